"""What a blob really is, read from its bytes: type sniffing, photo EXIF and variants,
voice-note durations. Knows nothing of HTTP or the database.

The client's filename and ``filetype`` are claims; the bytes decide. On upload a photo's
header and EXIF are read (no pixels decoded: that costs ~100 ms per 3 MB photo, which 20
phones uploading together on two cores cannot afford); the thumbnail and screen-size
preview are made by a background job after commit, or on first request, at a reduced
JPEG decoding scale.
"""
import io
import struct
from datetime import datetime

from server.errors import TooLarge, UnsupportedMedia

PHOTO_MIMES = {"image/jpeg", "image/png", "image/webp"}
VOICE_MIMES = {"audio/webm", "audio/ogg", "audio/mp4", "audio/aac", "audio/wav"}
THUMB_SIZE = 256
PREVIEW_SIZE = 1280
_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"iso5", b"iso6",
                     b"3gp4", b"3gp5", b"3gp6", b"dash", b"MSNV", b"avc1"}


def sniff(head: bytes):
    """The MIME type the first bytes (at least 64) prove, or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm" if b"webm" in head[:64] or b"matroska" in head[:64] else None
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "image/heic"
        if brand in _MP4_AUDIO_BRANDS:
            return "audio/mp4"
        return None
    if head[:2] == b"%P" and head[:5] == b"%PDF-":
        return "application/pdf"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "audio/aac"  # ADTS frame sync, layer 0
    return None


def kind_of(mime):
    if mime in PHOTO_MIMES:
        return "photo"
    if mime in VOICE_MIMES:
        return "voice"
    return None


def check_kind(mime, kind):
    """Raise 415 unless the sniffed ``mime`` is acceptable for ``kind``."""
    if mime == "image/heic":
        raise UnsupportedMedia("暂不支持 HEIC 照片，请在相机设置中选择“兼容性最佳”（JPEG）后重拍。",
                               accepted=sorted(PHOTO_MIMES))
    want = {"photo": PHOTO_MIMES, "voice": VOICE_MIMES}.get(kind)
    if want is not None and mime not in want:
        label = {"photo": "照片", "voice": "语音"}[kind]
        raise UnsupportedMedia(f"文件内容不是可接受的{label}格式（按文件内容识别为 {mime or '未知类型'}）。",
                               accepted=sorted(want), detected=mime)


# --------------------------------------------------------------------------- photos

def _open_image(fileobj, max_pixels):
    """Open (header only) and refuse decompression bombs before any pixel is decoded.

    Pillow itself refuses beyond twice ``Image.MAX_IMAGE_PIXELS`` (DecompressionBombError);
    ``max_pixels`` (``MAX_IMAGE_PIXELS`` in our config) is checked here, per call, without
    touching Pillow's process-wide setting or the (thread-unsafe) warnings filters.
    """
    from PIL import Image
    try:
        im = Image.open(fileobj)
    except Image.DecompressionBombError:
        raise TooLarge(f"图片像素过多，超过上限 {max_pixels} 像素，已拒收。", limit=max_pixels) from None
    except Exception:
        raise UnsupportedMedia("图片文件已损坏或无法识别。") from None
    w, h = im.size
    if w * h > max_pixels:
        raise TooLarge(f"图片像素过多（{w}×{h}），超过上限 {max_pixels} 像素，已拒收。", limit=max_pixels)
    return im


def _ratio(v):
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _dms(value, ref):
    if not value or len(value) != 3:
        return None
    d, m, s = (_ratio(x) for x in value)
    if None in (d, m, s):
        return None
    deg = d + m / 60 + s / 3600
    return round(-deg if ref in ("S", "W") else deg, 7)


def _exif_time(text, offset=None):
    if not text:
        return None
    try:
        dt = datetime.strptime(str(text).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    out = dt.isoformat()
    if offset and len(str(offset).strip("\x00 ")) == 6:
        out += str(offset).strip("\x00 ")
    return out


def read_exif(im):
    """The device's claims from EXIF: GPS, capture time, camera; {} when none."""
    try:
        exif = im.getexif()
    except Exception:
        return {}
    out = {}
    try:
        gps = exif.get_ifd(0x8825)
    except Exception:
        gps = {}
    if gps:
        lat, lon = _dms(gps.get(2), gps.get(1)), _dms(gps.get(4), gps.get(3))
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            g = {"lat": lat, "lon": lon}
            alt = _ratio(gps.get(6)) if gps.get(6) is not None else None
            if alt is not None:
                g["alt"] = round(-alt if gps.get(5) in (1, b"\x01") else alt, 2)
            out["gps"] = g
    try:
        sub = exif.get_ifd(0x8769)
    except Exception:
        sub = {}
    captured = _exif_time(sub.get(36867), sub.get(36881)) or _exif_time(exif.get(306))
    if captured:
        out["captured_at"] = captured
    for tag, name in ((271, "make"), (272, "model")):
        if exif.get(tag):
            out[name] = str(exif.get(tag)).strip("\x00 ")[:100]
    return out


def inspect_photo(fileobj, max_pixels):
    """Meta of a photo from its header: displayed width/height, orientation, EXIF claims.
    Raises 415 (not an image) or 413 (decompression bomb)."""
    im = _open_image(fileobj, max_pixels)
    exif = read_exif(im)
    orientation = 1
    try:
        orientation = int(im.getexif().get(274) or 1)
    except Exception:
        pass
    w, h = im.size
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    meta = {"width": w, "height": h, "orientation": orientation, "format": im.format}
    if exif:
        meta["exif"] = exif
    return meta


def render_variant(im_or_file, size, max_pixels=None):
    """A JPEG no larger than ``size`` on its long side, EXIF orientation applied."""
    from PIL import Image, ImageOps
    im = im_or_file if isinstance(im_or_file, Image.Image) else _open_image(im_or_file, max_pixels)
    if im.format == "JPEG":
        im.draft("RGB", (size, size))  # decode at 1/2, 1/4 or 1/8 scale: much less work
    try:
        im.load()
    except Exception:
        raise UnsupportedMedia("图片文件已损坏，无法解码。") from None
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGBA").convert("RGB") if "A" in im.mode or im.mode == "P" else im.convert("RGB")
    im.thumbnail((size, size), Image.Resampling.LANCZOS if size <= THUMB_SIZE else Image.Resampling.BILINEAR)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=82, optimize=False)
    return {"data": out.getvalue(), "width": im.width, "height": im.height, "mime": "image/jpeg"}


# --------------------------------------------------------------------------- voice

def voice_duration(fileobj, mime):
    """Seconds of audio, read from the container's headers (None when it does not say)."""
    fileobj.seek(0)
    try:
        fn = {"audio/wav": _wav_duration, "audio/ogg": _ogg_duration, "audio/mp4": _mp4_duration,
              "audio/aac": _adts_duration, "audio/webm": _webm_duration}[mime]
        d = fn(fileobj)
    except (struct.error, ValueError, IndexError, KeyError, EOFError):
        d = None
    return None if d is None or d < 0 else round(d, 3)


def _wav_duration(f):
    f.seek(12)
    byte_rate = None
    while True:
        hdr = f.read(8)
        if len(hdr) < 8:
            return None
        cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if cid == b"fmt ":
            fmt = f.read(size)
            byte_rate = struct.unpack("<I", fmt[8:12])[0]
            if size % 2:
                f.seek(1, 1)
        elif cid == b"data":
            if not byte_rate:
                return None
            if size == 0xFFFFFFFF:  # streaming writers leave it unset
                size = _remaining(f)
            return size / byte_rate
        else:
            f.seek(size + (size % 2), 1)


def _remaining(f):
    here = f.tell()
    end = f.seek(0, 2)
    f.seek(here)
    return end - here


def _ogg_duration(f):
    first = f.read(4096)
    i = first.find(b"OpusHead")
    if i >= 0:
        preskip = struct.unpack("<H", first[i + 10:i + 12])[0]
        rate, offset = 48000, preskip
    else:
        i = first.find(b"\x01vorbis")
        if i < 0:
            return None
        rate, offset = struct.unpack("<I", first[i + 12:i + 16])[0], 0
    end = f.seek(0, 2)
    f.seek(max(0, end - 65536))
    tail = f.read()
    j = tail.rfind(b"OggS")
    while j >= 0:
        granule = struct.unpack("<q", tail[j + 6:j + 14])[0]
        if granule >= 0:
            return max(0, granule - offset) / rate
        j = tail.rfind(b"OggS", 0, j)
    return None


def _mp4_boxes(f, start, end):
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return
        size, typ = struct.unpack(">I4s", hdr)
        header = 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield typ, pos + header, pos + size
        pos += size


def _mp4_duration(f):
    """mvhd's duration; for fragmented MP4 (Safari's MediaRecorder writes duration 0 there)
    mvex/mehd's, else None (unknown)."""
    end = f.seek(0, 2)
    for typ, start, stop in _mp4_boxes(f, 0, end):
        if typ != b"moov":
            continue
        scale = duration = fragment = None
        for t2, s2, e2 in _mp4_boxes(f, start, stop):
            if t2 == b"mvhd":
                f.seek(s2)
                version = f.read(4)[0]
                if version == 1:
                    _, _, scale, duration = struct.unpack(">QQIQ", f.read(28))
                else:
                    _, _, scale, duration = struct.unpack(">IIII", f.read(16))
            elif t2 == b"mvex":
                for t3, s3, e3 in _mp4_boxes(f, s2, e2):
                    if t3 == b"mehd":
                        f.seek(s3)
                        version = f.read(4)[0]
                        fragment = struct.unpack(">Q" if version == 1 else ">I", f.read(8 if version == 1 else 4))[0]
        if not scale:
            return None
        if duration:
            return duration / scale
        return fragment / scale if fragment else None
    return None


_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _adts_duration(f):
    frames, rate = 0, None
    while True:
        hdr = f.read(7)
        if len(hdr) < 7 or hdr[0] != 0xFF or (hdr[1] & 0xF6) != 0xF0:
            break
        rate = _ADTS_RATES[(hdr[2] >> 2) & 0x0F]
        length = ((hdr[3] & 0x03) << 11) | (hdr[4] << 3) | (hdr[5] >> 5)
        if length < 7:
            break
        frames += (hdr[6] & 0x03) + 1
        f.seek(length - 7, 1)
    return frames * 1024 / rate if rate else None


# EBML (WebM): Segment, Cluster and Info are entered; everything else is skipped by size.
_EBML_ENTER = {0x18538067, 0x1F43B675, 0x1549A966}
_UNKNOWN = object()


def _vint(f, keep_marker):
    b = f.read(1)
    if not b:
        raise EOFError
    first = b[0]
    mask, length = 0x80, 1
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8:
        raise ValueError("bad EBML vint")
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        raise EOFError
    value = first if keep_marker else first & (mask - 1)
    all_ones = (first & (mask - 1)) == mask - 1 and all(x == 0xFF for x in rest)
    for x in rest:
        value = (value << 8) | x
    if not keep_marker and all_ones:
        return _UNKNOWN
    return value


def _webm_duration(f):
    scale, duration, cluster_tc, last = 1_000_000, None, 0, None
    end = f.seek(0, 2)
    f.seek(0)
    while f.tell() < end:
        try:
            eid, size = _vint(f, True), _vint(f, False)
        except EOFError:
            break
        if eid in _EBML_ENTER:
            continue
        if size is _UNKNOWN:
            break
        start = f.tell()
        if eid == 0x2AD7B1:  # TimecodeScale
            scale = int.from_bytes(f.read(size), "big")
        elif eid == 0x4489:  # Duration (float, in TimecodeScale units)
            raw = f.read(size)
            duration = struct.unpack(">f" if size == 4 else ">d", raw)[0]
        elif eid == 0xE7:  # Cluster Timecode
            cluster_tc = int.from_bytes(f.read(size), "big")
        elif eid in (0xA3, 0xA0):  # SimpleBlock / BlockGroup: track vint, int16 timecode
            if eid == 0xA0:
                f.read(_vint_len(f))  # Block header inside the group
            _vint(f, False)
            rel = struct.unpack(">h", f.read(2))[0]
            t = cluster_tc + rel
            last = t if last is None else max(last, t)
        f.seek(start + size)
    if duration:
        return duration * scale / 1e9
    return last * scale / 1e9 if last is not None else None


def _vint_len(f):
    # Skip the Block element's id and size inside a BlockGroup; returns 0 bytes to read.
    _vint(f, True)
    _vint(f, False)
    return 0
