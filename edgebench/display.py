"""How figures and units are written for people, in every output: one home, so a table, a message and a
check's note say the same."""

from __future__ import annotations

# Multiply-adds are named as such everywhere; the papers call them "MFLOPs" (one home for both words).
MACS_HEADER = "M MACs"
MACS_NOTE = ("M MACs: millions of multiply-adds counted from the exported graph; the papers (FD-MobileNet, "
             "MobileNet, ShuffleNet) call these 'MFLOPs', so a paper's '140 MFLOPs' is 140 M MACs here.")


def macs_budget(budget: int) -> str:
    return f"{budget} M MACs"


def ms(value: float | None) -> str:
    """Milliseconds to about four significant figures."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"
