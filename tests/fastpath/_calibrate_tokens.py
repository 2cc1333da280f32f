"""Fit the estimate_tokens coefficients against o200k_base (bpe-openai); print figures.

Not collected by pytest (leading underscore). Run: ``python tests/fastpath/_calibrate_tokens.py``.
The corpus is built from files every CPython install carries (documentation text in
pydoc_data, the stdlib's own code, the CJK sample texts of Lib/test/cjkencodings), our
recorded fixtures' JSON, generated numbers/whitespace/JSON, and the European-language
prose below. Samples are cut to 100-3000 characters; even samples fit, odd ones test.
"""

from __future__ import annotations

import json
import random
import sys
import sysconfig
from pathlib import Path

import numpy as np

from edge.fastpath import tokens_py

LIB = Path(sysconfig.get_paths()["stdlib"])
EUROPEAN = [
    # French
    "Le conseil municipal a adopté hier soir le budget pour l'année prochaine, après un long "
    "débat sur la rénovation des écoles et l'entretien des routes départementales. Les élus de "
    "l'opposition ont regretté l'absence de mesures concrètes en faveur du logement social.",
    "Pour préparer une bonne pâte brisée, mélangez la farine et le beurre du bout des doigts "
    "jusqu'à obtenir une texture sableuse, puis ajoutez l'eau froide petit à petit. Laissez "
    "reposer la pâte au réfrigérateur pendant au moins une heure avant de l'étaler.",
    "La passerelle reçoit chaque requête, vérifie la clé d'accès, applique les limites de débit "
    "et choisit le fournisseur le plus adapté; en cas d'échec, elle essaie le suivant.",
    # German
    "Die Bundesregierung hat am Mittwoch ein umfangreiches Maßnahmenpaket zur Förderung "
    "erneuerbarer Energien beschlossen. Kritiker bemängeln jedoch, dass die Finanzierung der "
    "geplanten Netzausbauvorhaben weiterhin ungeklärt bleibt und Genehmigungsverfahren zu lange dauern.",
    "Bitte überprüfen Sie Ihre Eingaben sorgfältig, bevor Sie das Formular absenden. "
    "Unvollständige Anträge können leider nicht bearbeitet werden und verzögern die Auszahlung.",
    "Der Zugverkehr zwischen Hamburg und Berlin ist wegen einer Weichenstörung eingeschränkt; "
    "Reisende müssen mit Verspätungen von bis zu neunzig Minuten rechnen.",
    # Spanish, Italian, Portuguese
    "El ayuntamiento anunció que las obras de la nueva biblioteca comenzarán en primavera y "
    "durarán aproximadamente dieciocho meses, según el calendario aprobado por la comisión.",
    "La cucina italiana è famosa in tutto il mondo per la semplicità dei suoi ingredienti e "
    "per la grande varietà di piatti regionali, dalla pasta fresca ai risotti del nord.",
    "O servidor responde em poucos milissegundos, mas a latência aumenta quando o número de "
    "conexões simultâneas ultrapassa o limite configurado pelo administrador do sistema.",
    # Russian, Greek (other scripts)
    "Вчера в центре города открылась новая выставка современного искусства, которая "
    "продлится до конца месяца и познакомит посетителей с работами молодых художников.",
    "Η ομάδα ανακοίνωσε ότι η νέα έκδοση του λογισμικού θα κυκλοφορήσει την επόμενη εβδομάδα.",
    # Modern Chinese, Japanese and Korean (the cjkencodings texts are older, mixed prose)
    "随着人工智能技术的快速发展，越来越多的企业开始在客户服务、数据分析和软件开发中使用大型语言模型。",
    "这家餐厅的菜品味道很好，价格也比较合理，周末的时候经常需要排队等位。",
    "天気予報によると、明日は全国的に雨が降り、気温も今日より五度ほど低くなる見込みです。",
    "新しいアプリをインストールしたら、設定画面からアカウントを登録してください。",
    "서울시는 내년부터 대중교통 요금을 인상한다고 발표했으며 시민들의 의견을 수렴할 예정이다.",
    "会议结束后，请各部门负责人在本周五之前提交下个季度的工作计划和预算报告。",
]


def _cut(text: str, rnd: random.Random, out: list) -> None:
    i = 0
    while i < len(text):
        k = rnd.randint(100, 3000)
        piece = text[i : i + k]
        if piece.strip():
            out.append(piece)
        i += k


def corpus() -> list:
    rnd = random.Random(20240601)
    samples: list = []
    topics = (LIB / "pydoc_data" / "topics.py").read_text("utf-8")
    _cut(topics[:120_000], rnd, samples)  # English documentation prose
    for name in ("json/decoder.py", "asyncio/streams.py", "textwrap.py", "argparse.py"):
        _cut((LIB / name).read_text("utf-8")[:30_000], rnd, samples)  # code
    for name in sorted((LIB / "test" / "cjkencodings").glob("*-utf8.txt")):
        _cut(name.read_text("utf-8", "replace"), rnd, samples)
    fixtures = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
    for name in sorted(fixtures.glob("*/*.sse"))[:8]:
        _cut(name.read_text("utf-8"), rnd, samples)
    for _ in range(30):
        doc = {f"k{j}": rnd.choice([rnd.random() * 1e6, rnd.randint(0, 10**9), "value text"])
               for j in range(rnd.randint(3, 40))}
        samples.append(json.dumps(doc, indent=rnd.choice([None, 2])))
        samples.append(" ".join(str(rnd.randint(0, 10 ** rnd.randint(1, 12))) for _ in range(80)))
        samples.append("\n".join(" " * rnd.randint(0, 16) + "x = " + str(j) for j in range(40)))
    for _ in range(6):
        rnd.shuffle(EUROPEAN)
        samples.extend(EUROPEAN[k] + " " + EUROPEAN[k + 1] for k in range(0, 16, 2))
    return samples


def main() -> None:
    enc = tokens_py._o200k()
    data = corpus()
    xs = np.array([tokens_py._features(t) for t in data], dtype=float)
    ys = np.array([len(enc.encode_ordinary(t)) for t in data], dtype=float)
    byts = np.array([len(t.encode("utf-8")) for t in data], dtype=float)
    train = np.arange(len(data)) % 2 == 0
    w = 1.0 / ys[train]  # weight rows so that the fit minimises relative error
    coef, *_ = np.linalg.lstsq(xs[train] * w[:, None], ys[train] * w, rcond=None)
    print("n samples", len(data), "coefficients", [round(c, 4) for c in coef])
    print("bytes per token", round(byts[train].sum() / ys[train].sum(), 3))
    test = ~train
    est = np.maximum(1, np.rint(xs[test] @ coef))
    cur = np.array([tokens_py.estimate_tokens(t) for t, m in zip(data, test) if m])
    for label, e in (("fitted", est), ("module", cur), ("bytes/4", np.rint(byts[test] / 4))):
        rel = np.abs(e - ys[test]) / ys[test]
        print(f"{label:8s} mean {rel.mean() * 100:.1f}%  p95 {np.percentile(rel, 95) * 100:.1f}%"
              f"  max {rel.max() * 100:.1f}%")


if __name__ == "__main__":
    sys.exit(main())


def worst() -> None:
    enc = tokens_py._o200k()
    data = corpus()
    rows = []
    for t in data:
        y = len(enc.encode_ordinary(t))
        rows.append((abs(tokens_py.estimate_tokens(t) - y) / y, y, tokens_py.estimate_tokens(t), t[:70]))
    for r in sorted(rows, reverse=True)[:12]:
        print(round(r[0], 2), r[1], r[2], repr(r[3]))
