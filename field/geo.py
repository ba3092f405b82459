"""Distances and track thinning on WGS-84 coordinates (no GIS library needed at this scale)."""
import math

EARTH_RADIUS_M = 6371008.8


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def path_length_m(points):
    """Length of a polyline of (lat, lon, ...) points in metres."""
    return sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in zip(points, points[1:]))


def _xy(points):
    """Local equirectangular metres around the first point: exact enough for a day's walk."""
    lat0 = math.radians(points[0][0])
    k = math.cos(lat0)
    m = math.pi / 180 * EARTH_RADIUS_M
    return [((p[1] - points[0][1]) * m * k, (p[0] - points[0][0]) * m) for p in points]


def _seg_dist(p, a, b):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == 0 and dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def douglas_peucker(points, tolerance_m):
    """Indices kept by Douglas-Peucker (iterative: a day's track would blow the recursion limit)."""
    n = len(points)
    if n <= 2:
        return list(range(n))
    xy = _xy(points)
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = xy[i], xy[j]
        best, best_k = -1.0, None
        for k in range(i + 1, j):
            d = _seg_dist(xy[k], a, b)
            if d > best:
                best, best_k = d, k
        if best > tolerance_m:
            keep[best_k] = True
            stack.append((i, best_k))
            stack.append((best_k, j))
    return [i for i in range(n) if keep[i]]


def moving_length_m(points, min_step_m):
    """Path length counting only moves of at least ``min_step_m`` from the last counted point.

    A phone lying still reports fixes a few metres apart (GPS jitter); summing them would
    add hundreds of metres to a patrol that stood at a risk point for ten minutes.
    """
    if not points:
        return 0.0
    total, anchor = 0.0, points[0]
    for p in points[1:]:
        d = haversine_m(anchor[0], anchor[1], p[0], p[1])
        if d >= min_step_m:
            total += d
            anchor = p
    return total + (haversine_m(anchor[0], anchor[1], points[-1][0], points[-1][1]) if anchor is not points[-1] else 0.0)
