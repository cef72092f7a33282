#!/usr/bin/env python3
"""Writes the seed corpus for the fuzz targets into corpus/<target>/ (small, hand-made inputs
that reach every branch's door: native and encapsulated DICOM, tokens, queries, frames)."""
import os, struct

def el(group, element, vr, value):
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"OF", b"OD", b"OL"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value

def us(v): return struct.pack("<H", v)
def text(s):
    b = s.encode()
    return b + (b"\0" if len(b) % 2 else b"")

def dicom(ts, dataset):
    meta = el(2, 0x10, b"UI", text(ts))
    meta = el(2, 0, b"UL", struct.pack("<I", len(meta))) + meta
    return b"\0" * 128 + b"DICM" + meta + dataset

def image(rows, cols, bits, frames=1, photometric="MONOCHROME2", samples=1):
    return (el(0x28, 2, b"US", us(samples)) + el(0x28, 4, b"CS", text(photometric))
            + el(0x28, 8, b"IS", text(str(frames))) + el(0x28, 0x10, b"US", us(rows)) + el(0x28, 0x11, b"US", us(cols))
            + el(0x28, 0x100, b"US", us(bits)) + el(0x28, 0x101, b"US", us(bits)) + el(0x28, 0x102, b"US", us(bits - 1))
            + el(0x28, 0x103, b"US", us(0)))

def item(b): return struct.pack("<HHI", 0xFFFE, 0xE000, len(b)) + b
def encapsulated(fragments, bot=b""):
    body = item(bot) + b"".join(item(f) for f in fragments) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return struct.pack("<HH2sHI", 0x7FE0, 0x10, b"OB", 0, 0xFFFFFFFF) + body

def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    open(f"corpus/{target}/{name}", "wb").write(data)

native = dicom("1.2.840.10008.1.2.1", image(8, 8, 16, 2) + el(0x7FE0, 0x10, b"OW", bytes(range(256)) * 1))
write("index", "native", native)
write("index", "truncated", native[:200])
rle_frame = struct.pack("<16I", 1, 64, *([0] * 14)) + bytes([127] + [9] * 128)[:65]
write("index", "rle-bot", dicom("1.2.840.10008.1.2.5", image(8, 8, 8, 2) + encapsulated([rle_frame, rle_frame], struct.pack("<II", 0, 8 + len(rle_frame)))))
write("index", "jpeg-no-bot", dicom("1.2.840.10008.1.2.4.50", image(8, 8, 8, 2) + encapsulated([b"\xff\xd8\xff\xe0" + b"\0" * 12, b"\xff\xd8\xff\xe0" + b"\0" * 12])))
write("index", "sequence", dicom("1.2.840.10008.1.2.1", el(8, 0x1115, b"SQ", item(el(8, 0x1150, b"UI", text("1.2.3")))) + image(2, 2, 8) + el(0x7FE0, 0x10, b"OB", b"\1\2\3\4")))

sig = "A" * 43
for i, path in enumerate([f"/v1/k1.1800000001.2.{sig}/ct/s1/a.dcm/-/frames/1.jpg", f"/v1/k1.1.1.{sig}/a%20b/c", "/v1/x/../y", "/healthz", f"/v1/k1.99.3.{sig}/a/b/c/-/stack.json"]):
    write("token", f"path{i}", path.encode())
for i, q in enumerate(["window=40,400", "window=-600.5,1500,sigmoid&quality=75&viewport=256,128", "quality=100", "viewport=1,1", "window=1e9,1"]):
    write("query", f"q{i}", q.encode())
write("frame", "native16", bytes([0, 8, 8, 2, 12, 0x10, 128, 64]) + bytes(range(128)))
write("frame", "rgb", bytes([0, 4, 4, 1, 8, 0x20, 128, 64]) + bytes(range(48)))
write("frame", "rle", bytes([2, 8, 8, 1, 8, 0x10, 128, 64]) + rle_frame)
