"""The annotated evidence image: boxes and Chinese labels drawn with Pillow.

Deterministic (same photo and detections give the same bytes, so the same blob), and
drawn with the WenQuanYi Zen Hei font the project installs (``fonts-wqy-zenhei``); nothing
is downloaded.
"""
import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from . import taxonomy

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
COLOURS = {"high": (220, 38, 38), "medium": (234, 140, 0), "low": (37, 99, 235)}
MAX_SIDE = 1920


@lru_cache(maxsize=8)
def _font(size, path=FONT_PATH):
    return ImageFont.truetype(path, size=size, index=0)


def render(image, detections, font_path=FONT_PATH):
    """JPEG bytes of ``image`` (PIL, RGB) with a box and a 名称 置信度 label per detection.

    ``detections``: dicts with hazard_code, confidence and box (pixels of ``image``).
    """
    img = image.convert("RGB").copy()
    scale = 1.0
    if max(img.size) > MAX_SIDE:
        scale = MAX_SIDE / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    size = max(14, round(max(img.size) / 40))
    font = _font(size, font_path)
    width = max(2, round(max(img.size) / 300))
    for d in sorted(detections, key=lambda d: (-d["confidence"], d["box"])):
        hazard = taxonomy.get(d["hazard_code"])
        colour = COLOURS.get(hazard.severity if hazard else "low", COLOURS["low"])
        x1, y1, x2, y2 = (v * scale for v in d["box"])
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{hazard.name if hazard else d['hazard_code']} {d['confidence']:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        ty = y1 - th - 6 if y1 - th - 6 >= 0 else y1
        draw.rectangle([x1, ty, x1 + tw + 8, ty + th + 6], fill=colour)
        draw.text((x1 + 4 - left, ty + 3 - top), text, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=88, optimize=False)
    return out.getvalue()
