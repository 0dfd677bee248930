"""The outbound capture of a node's MPC messages (node.mpc.channel): what is
appended reads back as sent, the file is private, and it stops growing at
its bound."""

from __future__ import annotations

from node.mpc import channel
from node.mpc.channel import OutboundCapture, encode_mpc, read_capture


def test_messages_read_back_in_order_from_a_private_file(tmp_path):
    capture = OutboundCapture(tmp_path / "sent.capture")
    capture.append(encode_mpc("masked", "M000000000001", b"\x01" * 40))
    capture.append(encode_mpc("signature", "M000000000001", b"\x02" * 64))
    assert read_capture(tmp_path / "sent.capture") == [("masked", "M000000000001", b"\x01" * 40),
                                                       ("signature", "M000000000001", b"\x02" * 64)]
    assert (tmp_path / "sent.capture").stat().st_mode & 0o777 == 0o600
    again = OutboundCapture(tmp_path / "sent.capture")  # a restarted node appends, counting what is there
    assert again.written == (tmp_path / "sent.capture").stat().st_size


def test_the_capture_stops_growing_at_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(channel, "CAPTURE_BYTES_MAX", 200)
    capture = OutboundCapture(tmp_path / "sent.capture")
    message = encode_mpc("sign", "M000000000001", b"\x03" * 60)
    for _ in range(5):
        capture.append(message)
    assert capture.full and len(read_capture(tmp_path / "sent.capture")) == 200 // (4 + len(message))
    assert (tmp_path / "sent.capture").stat().st_size <= 200
