"""A small RTSP server for tests: relays the live H.264 RTP packets of an ffmpeg encoder to RTSP clients.

Run as a script (it is not imported by the tests, so it can be killed, stopped and restarted like a camera):

    python rtsp_test_server.py --port 8554 [--path live] [--input video.avi] [--fps 10] [--size 320x240]

ffmpeg encodes `testsrc` (or loops a video file) in real time with libx264 and sends RTP over UDP to a socket
of this process, writing the session description (SDP) to a file. The server speaks the RTSP methods a
client needs (OPTIONS, DESCRIBE, SETUP with TCP interleaving, PLAY, GET_PARAMETER, TEARDOWN) and forwards
every RTP packet to each playing client as an interleaved `$` frame on channel 0, as IP cameras do with
`rtsp_transport=tcp`. It prints `READY <port>` once clients can connect, and exits when ffmpeg does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

CLIENT_BACKLOG_PACKETS = 2000  # a client that stops reading loses packets instead of blocking the relay


def encoder_command(args: argparse.Namespace, rtp_port: int, rtcp_port: int, sdp_path: Path) -> list[str]:
    if args.input:
        source = ["-re", "-stream_loop", "-1", "-i", args.input, "-vf", f"fps={args.fps}"]
    else:
        source = ["-re", "-f", "lavfi", "-i", f"testsrc=size={args.size}:rate={args.fps}"]
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *source, "-an",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(args.gop),
        "-pix_fmt", "yuv420p", "-f", "rtp", "-payload_type", "96", "-sdp_file", str(sdp_path),
        f"rtp://127.0.0.1:{rtp_port}?rtcpport={rtcp_port}&pkt_size=1200",
    ]  # fmt: skip


def wait_for_sdp(sdp_path: Path, encoder: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if encoder.poll() is not None:
            sys.exit(f"ffmpeg exited with code {encoder.returncode} before writing its SDP")
        if sdp_path.is_file():
            text = sdp_path.read_text()
            if "m=video" in text and text.endswith("\n"):
                return text
        time.sleep(0.05)
    sys.exit(f"ffmpeg wrote no SDP to {sdp_path} within {timeout_s} s")


def describe_sdp(encoder_sdp: str) -> str:
    """ffmpeg's SDP with the media port zeroed and a track control URL, as an RTSP DESCRIBE answer."""
    out = []
    for line in encoder_sdp.splitlines():
        if line.startswith("m=video "):
            parts = line.split()
            parts[1] = "0"
            out += [" ".join(parts), "a=control:streamid=0"]
        elif not line.startswith("a=control"):
            out.append(line)
    return "\r\n".join(out) + "\r\n"


def drain(sock: socket.socket) -> None:
    while True:
        sock.recv(2048)


class Relay:
    """Fans RTP packets from the encoder's UDP socket out to the playing clients."""

    def __init__(self) -> None:
        self._clients: set[queue.Queue[bytes]] = set()
        self._lock = threading.Lock()

    def add(self) -> queue.Queue[bytes]:
        q: queue.Queue[bytes] = queue.Queue(CLIENT_BACKLOG_PACKETS)
        with self._lock:
            self._clients.add(q)
        return q

    def remove(self, q: queue.Queue[bytes]) -> None:
        with self._lock:
            self._clients.discard(q)

    def run(self, rtp_socket: socket.socket) -> None:
        while True:
            packet = rtp_socket.recv(65536)
            with self._lock:
                clients = list(self._clients)
            for q in clients:
                with contextlib.suppress(queue.Full):
                    q.put_nowait(packet)


class RtspHandler(socketserver.StreamRequestHandler):
    server: RtspServer

    def handle(self) -> None:
        self.session = uuid.uuid4().hex[:12]
        self.send_lock = threading.Lock()
        self.packets: queue.Queue[bytes] | None = None
        try:
            while self._one_request():
                pass
        except OSError:
            pass
        finally:
            if self.packets is not None:
                self.server.relay.remove(self.packets)
                self.packets.put_nowait(b"")  # wakes the sender so it ends

    def _one_request(self) -> bool:
        first = self.rfile.read(1)
        if not first:
            return False
        if first == b"$":  # interleaved RTCP from the client: read and ignore
            header = self.rfile.read(3)
            self.rfile.read(int.from_bytes(header[1:3], "big"))
            return True
        request_line = (first + self.rfile.readline()).decode("latin-1").strip()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            self.rfile.read(int(headers["content-length"]))
        method, url, _version = request_line.split(" ", 2)
        cseq = headers.get("cseq", "0")
        if method == "OPTIONS":
            self._reply(cseq, 200, {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"})
        elif method == "DESCRIBE":
            if url.rstrip("/").rsplit("/", 1)[-1] != self.server.path:
                self._reply(cseq, 404)
            else:
                body = self.server.sdp.encode()
                self._reply(
                    cseq,
                    200,
                    {"Content-Type": "application/sdp", "Content-Base": url.rstrip("/") + "/"},
                    body,
                )
        elif method == "SETUP":
            if "TCP" not in headers.get("transport", "").upper():
                self._reply(cseq, 461)  # Unsupported Transport: the client retries over TCP
            else:
                transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
                self._reply(cseq, 200, {"Transport": transport, "Session": f"{self.session};timeout=60"})
        elif method == "PLAY":
            self._reply(cseq, 200, {"Session": self.session, "Range": "npt=0.000-"})
            if self.packets is None:
                self.packets = self.server.relay.add()
                threading.Thread(target=self._send_packets, args=(self.packets,), daemon=True).start()
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self._reply(cseq, 200, {"Session": self.session})
        elif method == "TEARDOWN":
            self._reply(cseq, 200, {"Session": self.session})
            return False
        else:
            self._reply(cseq, 405)
        return True

    def _reply(
        self, cseq: str, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        reasons = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 461: "Unsupported Transport"}
        lines = [f"RTSP/1.0 {status} {reasons[status]}", f"CSeq: {cseq}", "Server: vigie-test-rtsp"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        with self.send_lock:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            self.wfile.flush()

    def _send_packets(self, packets: queue.Queue[bytes]) -> None:
        while (packet := packets.get()) != b"":
            frame = b"$\x00" + len(packet).to_bytes(2, "big") + packet
            try:
                with self.send_lock:
                    self.wfile.write(frame)
                    self.wfile.flush()
            except OSError:
                self.server.relay.remove(packets)
                return


class RtspServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, path: str, sdp: str, relay: Relay) -> None:
        super().__init__(("127.0.0.1", port), RtspHandler)
        self.path = path
        self.sdp = sdp
        self.relay = relay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="live")
    parser.add_argument("--input", help="video file to loop (default: ffmpeg's testsrc pattern)")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--gop", type=int, default=10, help="frames between key frames")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not installed (Debian package ffmpeg)")

    rtp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp_socket.bind(("127.0.0.1", 0))
    rtcp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # ffmpeg's sender reports: drained
    rtcp_socket.bind(("127.0.0.1", 0))
    workdir = Path(tempfile.mkdtemp(prefix="vigie-rtsp-"))
    sdp_path = workdir / "stream.sdp"
    command = encoder_command(args, rtp_socket.getsockname()[1], rtcp_socket.getsockname()[1], sdp_path)
    encoder = subprocess.Popen(command)

    def stop(signum: int, _frame: object) -> None:
        encoder.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sdp = describe_sdp(wait_for_sdp(sdp_path, encoder, timeout_s=15.0))
    relay = Relay()
    threading.Thread(target=relay.run, args=(rtp_socket,), daemon=True).start()
    threading.Thread(target=drain, args=(rtcp_socket,), daemon=True).start()
    server = RtspServer(args.port, args.path, sdp, relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {args.port}", flush=True)
    code = encoder.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(f"ffmpeg exited with code {code}")


if __name__ == "__main__":
    main()
