"""Draw the field page's app icons (patrol_app/web/field_static/icons/) with Pillow.

Run once after a change: ``python scripts/make_field_icons.py``. The icons are committed.
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "patrol_app" / "web" / "field_static" / "icons"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
BLUE = (31, 95, 191)


def draw(size: int, maskable: bool) -> Image.Image:
    s = 4 * size  # draw large, shrink for smooth edges
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if maskable:
        d.rectangle([0, 0, s, s], fill=BLUE)
        inset = int(s * 0.12)  # keep the picture inside the maskable safe zone
    else:
        d.rounded_rectangle([0, 0, s - 1, s - 1], radius=int(s * 0.18), fill=BLUE)
        inset = 0
    inner = s - 2 * inset
    # a road running into the distance
    top, bottom = inset + int(inner * 0.52), inset + int(inner * 0.94)
    cx = s // 2
    d.polygon(
        [
            (cx - inner * 0.06, top),
            (cx + inner * 0.06, top),
            (cx + inner * 0.40, bottom),
            (cx - inner * 0.40, bottom),
        ],
        fill=(235, 238, 242),
    )
    for i in range(3):  # centre-line dashes
        t0, t1 = 0.08 + i * 0.32, 0.08 + i * 0.32 + 0.18
        y0, y1 = top + (bottom - top) * t0, top + (bottom - top) * t1
        w0, w1 = inner * (0.006 + 0.02 * t0), inner * (0.006 + 0.02 * t1)
        d.polygon([(cx - w0, y0), (cx + w0, y0), (cx + w1, y1), (cx - w1, y1)], fill=(245, 190, 40))
    font = ImageFont.truetype(FONT, int(inner * 0.30), index=2)  # index 2: Simplified Chinese
    d.text((cx, inset + int(inner * 0.28)), "路政", font=font, fill="white", anchor="mm")
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, False).save(OUT / f"icon-{size}.png", optimize=True)
    draw(512, True).save(OUT / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
