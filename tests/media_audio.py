"""Small but well-formed voice notes in each container phones record, built byte by byte
(no encoder on these machines): WAV, Ogg/Opus, WebM (as MediaRecorder writes it: no
Duration, unknown sizes), M4A and raw AAC (ADTS)."""
import io
import struct
import wave


def wav(seconds=2.0, rate=8000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * seconds))
    return out.getvalue()


def _ogg_crc(data):
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(flags, granule, seq, packets, serial=0x1234):
    lacing, body = [], b""
    for p in packets:
        n = len(p)
        while n >= 255:
            lacing.append(255)
            n -= 255
        lacing.append(n)
        body += p
    hdr = b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, seq, 0) + bytes([len(lacing)]) + bytes(lacing)
    page = bytearray(hdr + body)
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def ogg_opus(seconds=3.0, preskip=312):
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", preskip, 48000, 0, 0)
    vendor = b"danbing-test"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    frames = int(seconds / 0.02)
    pages = [_ogg_page(0x02, 0, 0, [head]), _ogg_page(0x00, 0, 1, [tags])]
    seq, granule, done = 2, preskip, 0
    while done < frames:
        n = min(50, frames - done)
        done += n
        granule += n * 960
        pages.append(_ogg_page(0x04 if done == frames else 0x00, granule, seq, [b"\xf8\xff\xfe"] * n))
        seq += 1
    return b"".join(pages)


def _ebml(eid, payload, unknown=False):
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else b"\x01" + len(payload).to_bytes(7, "big")
    return eid + size + payload


def webm(block_times_ms=(0, 500, 1000, 1500, 2000, 2500, 2980)):
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm") + _ebml(b"\x42\x87", b"\x04"))
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", (1_000_000).to_bytes(3, "big")))
    tracks = _ebml(b"\x16\x54\xae\x6b", _ebml(b"\xae", _ebml(b"\xd7", b"\x01") + _ebml(b"\x86", b"A_OPUS")))
    clusters, current = b"", None
    for t in block_times_ms:
        base = t - t % 2000
        if base != current:
            current = base
            clusters += b"\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff" + _ebml(b"\xe7", base.to_bytes(2, "big"))
        clusters += _ebml(b"\xa3", b"\x81" + struct.pack(">h", t - base) + b"\x80" + b"\xf8\xff\xfe")
    return header + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + info + tracks + clusters


def _box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def m4a(seconds=5.0, scale=44100):
    ftyp = _box(b"ftyp", b"M4A " + struct.pack(">I", 0) + b"M4A isom")
    mvhd = _box(b"mvhd", b"\0\0\0\0" + struct.pack(">IIII", 0, 0, scale, int(seconds * scale)) + b"\0" * 80)
    mdat = _box(b"mdat", b"\0" * 64)
    return ftyp + mdat + _box(b"moov", mvhd)  # moov after mdat, as phones often write it


def fragmented_mp4(seconds=4.5, scale=48000):
    """As Safari's MediaRecorder writes it: mvhd duration 0, the length in mvex/mehd."""
    ftyp = _box(b"ftyp", b"iso5" + struct.pack(">I", 512) + b"iso5iso6mp41")
    mvhd = _box(b"mvhd", b"\0\0\0\0" + struct.pack(">IIII", 0, 0, scale, 0) + b"\0" * 80)
    mvex = _box(b"mvex", _box(b"mehd", b"\0\0\0\0" + struct.pack(">I", int(seconds * scale))))
    return ftyp + _box(b"moov", mvhd + mvex) + _box(b"moof", b"\0" * 16) + _box(b"mdat", b"\0" * 64)


def adts(frames=43, rate_index=4):
    out = b""
    payload = b"\x21\x00\x49\x90\x02\x19\x00\x23\x80"
    n = 7 + len(payload)
    for _ in range(frames):
        out += bytes([0xFF, 0xF1, (1 << 6) | (rate_index << 2), (1 << 6) | (n >> 11), (n >> 3) & 0xFF,
                      ((n & 7) << 5) | 0x1F, 0xFC]) + payload
    return out
