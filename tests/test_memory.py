"""Bounded memory, proven: a layer holding one 4 GiB file is indexed from a streamed generator
(no disk holds it) while the child process's peak RSS stays far below the file's size."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# sha256 of 4 GiB of zero bytes (hashlib, streamed once)
ZEROS_4GIB_SHA256 = "8479e43911dc45e89f934fe48d01297e16f51d17aa561d4d1c216b1ae0fcddca"

CHILD = textwrap.dedent(
    r'''
    import json, tarfile
    from inspectr.fs.layer_index import index_layer
    from inspectr.limits import Limits

    SIZE = 4 << 30

    def chunks():
        info = tarfile.TarInfo("big/zeros.bin")
        info.size = SIZE
        yield info.tobuf(tarfile.PAX_FORMAT)
        block = bytes(1 << 20)
        for _ in range(SIZE // len(block)):
            yield block
        yield bytes(1024)  # end-of-archive marker (4 GiB is block-aligned: no padding)

    class Stream:
        def __init__(self):
            self.it, self.buf = chunks(), b""
        def read(self, n=-1):
            if not self.buf:
                self.buf = next(self.it, b"")
            out, self.buf = self.buf[:n], self.buf[n:]
            return out
        def close(self):
            pass

    class Source:
        media_type = digest = size = diff_id = None
        label = "layer 0 (streamed)"
        def open(self):
            return Stream()

    index = index_layer(Source(), 0, Limits())
    (entry,) = [e for e in index.entries if e.path == "big/zeros.bin"]
    # VmHWM is this process image's peak; ru_maxrss would carry the forking parent's over exec.
    with open("/proc/self/status") as fp:
        hwm = next(int(line.split()[1]) for line in fp if line.startswith("VmHWM:"))
    print(json.dumps({"size": entry.size, "sha256": entry.sha256.hex(), "uncompressed": index.uncompressed_size,
                      "maxrss_kib": hwm}))
    '''
)


def test_a_4_gib_file_is_indexed_in_bounded_memory() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=True)
    doc = json.loads(out.stdout)
    assert doc["size"] == 4 << 30
    assert doc["sha256"] == ZEROS_4GIB_SHA256
    assert doc["uncompressed"] == 512 + (4 << 30) + 1024  # header + data + end-of-archive marker
    assert doc["maxrss_kib"] < 150 * 1024, f"peak RSS {doc['maxrss_kib']} KiB for a 4 GiB layer"
