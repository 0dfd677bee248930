"""Puts tests/ on sys.path for every test folder, so each can `from fixtures
import ...`: in pytest's default "prepend" import mode, loading a conftest
that is not in a package inserts its folder at the front of sys.path.

It must hold no fixtures or hooks: the folders' own conftests hold theirs.
"""
