"""node.runtime.passphrase: a descriptor, then a file, then the environment,
then the terminal, else a clear error; what each gives is one line of UTF-8."""

from __future__ import annotations

import os

import pytest

from node.runtime.passphrase import ENV_VAR, PASSPHRASE_BYTES_MAX, PassphraseError, PassphraseSource

NO_TERMINAL = None


def pipe_holding(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


def private_file(tmp_path, data: bytes, mode: int = 0o600):
    path = tmp_path / "passphrase"
    path.write_bytes(data)
    path.chmod(mode)
    return path


def never_asked(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r}")


def test_a_descriptor_gives_its_first_line_and_is_closed():
    fd = pipe_holding(b"from the pipe\nsecond line\n")
    assert PassphraseSource(fd=fd).read(environ={ENV_VAR: "env"}, ask=never_asked) == "from the pipe"
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_descriptor_without_a_newline_gives_all_it_holds():
    assert PassphraseSource(fd=pipe_holding("grüße".encode())).read(environ={}) == "grüße"


def test_a_bad_descriptor_is_a_passphrase_error():
    fd = pipe_holding(b"x")
    os.close(fd)
    with pytest.raises(PassphraseError, match=f"cannot read the passphrase from file descriptor {fd}"):
        PassphraseSource(fd=fd).read(environ={})


def test_a_file_gives_its_first_line_without_the_line_end(tmp_path):
    path = private_file(tmp_path, b"from the file\r\nignored\n")
    assert PassphraseSource(file=path).read(environ={ENV_VAR: "env"}, ask=never_asked) == "from the file"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_file_open_to_group_or_others_is_refused_with_the_fix(tmp_path, mode):
    path = private_file(tmp_path, b"secret\n", mode)
    with pytest.raises(PassphraseError, match=rf"passphrase file is open to group or others \(mode {mode:04o}\); "
                                              rf"`chmod 600 {path}` fixes it"):
        PassphraseSource(file=path).read(environ={})


def test_a_missing_file_is_a_passphrase_error(tmp_path):
    with pytest.raises(PassphraseError, match="cannot read passphrase file"):
        PassphraseSource(file=tmp_path / "absent").read(environ={})


def test_the_environment_comes_before_the_terminal():
    assert PassphraseSource().read(environ={ENV_VAR: "from the env"}, ask=never_asked) == "from the env"


def test_the_terminal_is_asked_when_nothing_else_is_given():
    prompts = []
    assert PassphraseSource().read("key: ", environ={}, ask=lambda p: prompts.append(p) or "typed") == "typed"
    assert prompts == ["key: "]


def test_a_new_passphrase_is_asked_twice_and_must_agree():
    answers = iter(["one", "one"])
    assert PassphraseSource().read(confirm=True, environ={}, ask=lambda p: next(answers)) == "one"
    answers = iter(["one", "two"])
    with pytest.raises(PassphraseError, match="differ"):
        PassphraseSource().read(confirm=True, environ={}, ask=lambda p: next(answers))


def test_end_of_input_at_the_prompt_is_a_passphrase_error():
    def eof(prompt):
        raise EOFError

    with pytest.raises(PassphraseError, match="no passphrase typed"):
        PassphraseSource().read(environ={}, ask=eof)


def test_no_source_and_no_terminal_says_how_to_give_one(monkeypatch):
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(PassphraseError, match=f"no terminal to ask on: set {ENV_VAR}, or pass --passphrase-fd N "
                                              "or --passphrase-file F"):
        PassphraseSource().read(environ={ENV_VAR: ""})


@pytest.mark.parametrize("data, fragment", [
    (b"\n", "is empty"),
    (b"", "is empty"),
    (b"\xff\xfe\n", "not UTF-8"),
    (b"x" * (PASSPHRASE_BYTES_MAX + 1), "longer than 1024 bytes"),
])
def test_what_cannot_be_a_passphrase_is_refused(tmp_path, data, fragment):
    with pytest.raises(PassphraseError, match=fragment):
        PassphraseSource(fd=pipe_holding(data)).read(environ={})
    with pytest.raises(PassphraseError, match=fragment):
        PassphraseSource(file=private_file(tmp_path, data)).read(environ={})


def test_a_passphrase_of_the_longest_length_is_taken():
    assert len(PassphraseSource(fd=pipe_holding(b"x" * PASSPHRASE_BYTES_MAX + b"\n")).read(environ={})) == \
        PASSPHRASE_BYTES_MAX


def test_one_source_at_a_time(tmp_path):
    with pytest.raises(PassphraseError, match="not both"):
        PassphraseSource(fd=3, file=tmp_path / "f")
