"""The field endpoints in /api/v1/openapi.json (the entities' schemas come from the registry)."""
from sync.openapi import add_paths

_BEARER = [{"bearer": []}]


def _op(summary, params=(), body=None, tag="field"):
    op = {"summary": summary, "tags": [tag], "security": _BEARER,
          "parameters": [{"name": n, "in": "query", "required": req, "schema": {"type": t}, "description": d}
                         for n, t, req, d in params],
          "responses": {"200": {"description": "OK"}, "401": {"description": "未登录"}, "403": {"description": "无权"}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


FIX = {"type": "object", "required": ["device_time", "lat", "lon"], "properties": {
    "device_time": {"type": "string", "format": "date-time", "description": "ISO 8601 (…Z) or epoch milliseconds"},
    "lat": {"type": "number"}, "lon": {"type": "number"}, "accuracy": {"type": "number"},
    "speed": {"type": "number"}, "heading": {"type": "number"}, "battery": {"type": "number", "minimum": 0, "maximum": 100}}}


@add_paths
def paths(spec):
    spec.path("/api/v1/positions", operations={"post": _op(
        "上传定位点（离线积压批量，按设备+时间幂等）", body={"type": "object", "required": ["fixes"], "properties": {
            "device_id": {"type": "string"}, "fixes": {"type": "array", "items": FIX}}}, tag="positions")})
    spec.path("/api/v1/positions/latest", operations={"get": _op(
        "本队及下辖队员的最新位置", [("organisation_id", "integer", False, "只看某队"),
                          ("max_age_s", "integer", False, "只看多少秒内的定位")], tag="positions")})
    spec.path("/api/v1/positions/track", operations={"get": _op(
        "队员轨迹", [("user_id", "integer", True, ""), ("from", "string", False, "ISO 8601，默认 24 小时前"),
                 ("to", "string", False, "ISO 8601，默认现在")], tag="positions")})
    spec.path("/api/v1/disasters/events", operations={"get": _op(
        "灾害事件列表（含报送超时情况）", [("late", "string", False, "1：只看有超时的事件")], tag="disasters")})
    spec.path("/api/v1/disasters/events/{event_id}/summary", operations={"get": {**_op(
        "灾害事件当前灾情汇总（各地取最新一报，不重复计算）",
        [("level", "string", False, "county | township | village")], tag="disasters")}})
    spec.path("/api/v1/disasters/events/{event_id}/forward", operations={"post": _op(
        "县级上报：初报（2 小时内）、续报（每日 9 时前）、核报（稳定后 2 个工作日内）", body={"type": "object", "properties": {
            "note": {"type": "string", "maxLength": 500},
            "stage": {"type": "string", "enum": ["初报", "续报", "核报"], "default": "初报",
                      "description": "续报按服务器当天（北京时间）日期计，每天一次"}}}, tag="disasters")})
    spec.path("/api/v1/patrols/points", operations={"get": _op(
        "风险点列表", [("jurisdiction", "string", False, ""), ("risk_level", "string", False, "红|橙|黄|蓝")], tag="patrols")})
    spec.path("/api/v1/patrols/plans", operations={"get": _op("巡查计划列表", tag="patrols")})
    spec.path("/api/v1/patrols/coverage", operations={"get": _op(
        "巡查覆盖情况与漏巡点", [("plan_id", "string", False, ""), ("from", "string", False, ""),
                         ("to", "string", False, "")], tag="patrols")})
