"""Per-function counts -> NCNN layer types -> modeled-cycle shares (edgebench.modeling.layer_breakdown).

The names are real symbols of the armv7 edgebench-runner (NCNN 1.0.20261020, Debian's cross gcc 12),
seen counting shufflenet_v1_g3_0.5x with symbols=on; demangling is the real c++filt.
"""

from __future__ import annotations

import pytest

from edgebench.errors import EdgebenchError
from edgebench.modeling.latency_model import CpuConstants
from edgebench.modeling.layer_breakdown import (HELPERS, MEMORY, RUNNER, RUNTIME, UNMAPPED, breakdown, demangle,
                                       layer_costs, layer_type_of)
from edgebench.ncnn_tools.plugin import FunctionCounts

MANGLED = {
    "_ZN4ncnnL23convolution_im2col_gemmERKNS_3MatERS0_S2_S2_iiiiiiiRKNS_6OptionE": "Convolution",
    "_ZNK4ncnn15Convolution_arm7forwardERKNS_3MatERS1_RKNS_6OptionE": "Convolution",
    "_ZNK4ncnn24ConvolutionDepthWise_arm7forwardERKNS_3MatERS1_RKNS_6OptionE": "ConvolutionDepthWise",
    "_ZN4ncnnL16convdw3x3s1_neonERKNS_3MatERS0_S2_S2_RKNS_6OptionE.constprop.0.isra.0": "ConvolutionDepthWise",
    "_ZNK4ncnn18ShuffleChannel_arm7forwardERKNS_3MatERS1_RKNS_6OptionE": "ShuffleChannel",
    "_ZN4ncnnL16binary_op_vectorEPKfS1_Pfiiiii": "BinaryOp",
    "_ZNK4ncnn11Pooling_arm7forwardERKNS_3MatERS1_RKNS_6OptionE": "Pooling",
    "_ZNK4ncnn8ReLU_arm15forward_inplaceERNS_3MatERKNS_6OptionE": "ReLU",
    "_ZNK4ncnn16InnerProduct_arm7forwardERKNS_3MatERS1_RKNS_6OptionE": "InnerProduct",
    "_ZN4ncnnL27padding_constant_pack4_neonERKNS_3MatERS0_iiii19__simd128_float32_t.isra.0": "Padding",
    "_ZN4ncnnL22copy_make_border_imageIfEEvRKNS_3MatERS1_iiiT_": "Padding",
    "_ZN4ncnn15convert_packingERKNS_3MatERS0_iRKNS_6OptionE": "Packing",
    "_ZNK4ncnn10NetPrivate14convert_layoutERNS_3MatEPKNS_5LayerERKNS_6OptionE": "Packing",
    "_ZNK4ncnn10NetPrivate16do_forward_layerEPKNS_5LayerERSt6vectorINS_3MatESaIS5_EERKNS_6OptionE": RUNTIME,
    "_ZN4ncnn21UnlockedPoolAllocator8fastFreeEPv": RUNTIME,
    "__memcpy_neon": MEMORY, "malloc": MEMORY, "_int_free": MEMORY, "_Znwj": MEMORY, "memset": MEMORY,
    "__divsi3": HELPERS, "___pthread_mutex_lock": HELPERS, "memcmp": HELPERS, "__adddf3": HELPERS,
    "_ZNSt6vectorIiSaIiEEaSERKS1_": HELPERS,
    "__clock_gettime64": RUNNER, "__prctl": RUNNER, "_ZNSt6chrono3_V212steady_clock3nowEv": RUNNER,
    "some_unknown_function": UNMAPPED,
}


def test_every_mapping_rule_on_real_runner_symbols():
    names = demangle(list(MANGLED))
    assert names["_ZN4ncnnL16binary_op_vectorEPKfS1_Pfiiiii"].startswith("ncnn::binary_op_vector(")
    got = {m: layer_type_of(names[m]) for m in MANGLED}
    assert got == MANGLED
    assert layer_type_of(None) == UNMAPPED  # code no symbol covers is shown, never hidden


def fc(name, n, iterations=3):
    return FunctionCounts(name=name, address=None if name is None else 4096, iterations=iterations, instructions=n,
                          bytes_loaded=2 * n, bytes_stored=n, l1d_misses=n // 10, l1i_misses=1, l2_misses=n // 100)


A9 = CpuConstants(cpu="cortex-a9", cycles_per={"instructions": 1.0, "l1d_misses": 20.0, "l2_misses": 30.0},
                  cache="", calibrated_on="", fit_models=(), loo_median_abs_error_pct=0, loo_max_abs_error_pct=0)


def test_costs_sum_per_type_and_shares_add_up():
    functions = [fc("_ZNK4ncnn15Convolution_arm7forwardERKNS_3MatERS1_RKNS_6OptionE", 9000),
                 fc("_ZN4ncnnL23convolution_im2col_gemmERKNS_3MatERS0_S2_S2_iiiiiiiRKNS_6OptionE", 3000),
                 fc("__memcpy_neon", 1000), fc(None, 100)]
    costs = layer_costs(functions)
    by_type = {c.layer_type: c for c in costs}
    assert set(by_type) == {"Convolution", MEMORY, UNMAPPED}
    conv = by_type["Convolution"]
    assert (conv.functions, conv.instructions, conv.bytes_loaded, conv.l1d_misses, conv.iterations) == (2, 12000, 24000, 1200, 3)
    for field in ("instructions", "bytes_loaded", "bytes_stored", "l1d_misses", "l1i_misses", "l2_misses"):
        assert sum(getattr(c, field) for c in costs) == sum(getattr(f, field) for f in functions)
    table = breakdown("m", costs, A9, macs=1000)
    assert sum(r.cycles_share for r in table.rows) == pytest.approx(1.0)
    # per iteration: (12000 + 20*1200 + 30*120) / 3
    assert table.rows[0].cost.layer_type == "Convolution"
    assert table.rows[0].cycles_per_iteration == pytest.approx((12000 + 24000 + 3600) / 3)
    assert table.share_of([MEMORY]) == pytest.approx(table.rows[1].cycles_share)


def test_a_model_the_counts_cannot_split_is_refused():
    costs = layer_costs([fc("__memcpy_neon", 10)])
    simd = CpuConstants(cpu="x", cycles_per={"simd_fp": 1.0}, cache="", calibrated_on="", fit_models=(),
                        loo_median_abs_error_pct=0, loo_max_abs_error_pct=0)
    with pytest.raises(EdgebenchError, match="does not split|do not split"):
        breakdown("m", costs, simd)
    with pytest.raises(EdgebenchError, match="different iteration counts"):
        layer_costs([fc("a", 1, iterations=2), fc("b", 1, iterations=3)])


def test_the_store_keeps_a_breakdown_and_reads_older_rows_as_none(tmp_path, monkeypatch):
    import dataclasses
    import sqlite3

    from edgebench.results import store as store_mod
    from edgebench.results.store import Store
    from tests.result_factory import make_result

    costs = layer_costs([fc("__memcpy_neon", 10), fc(None, 5)])
    path = tmp_path / "r.sqlite3"
    # a store made before the breakdown existed (schema v1), with one result in it
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    monkeypatch.setattr(store_mod, "RESULT_JSON_COLUMNS", ("settings", "board", "output_checksum"))
    monkeypatch.setattr(store_mod, "RESULT_COLUMNS", tuple(c for c in store_mod.RESULT_COLUMNS if c != "board_name"))
    monkeypatch.setattr(store_mod, "_drop_failed", lambda db, result: None)  # its first result: nothing to replace
    with Store(path) as s:
        old_run = s.begin_run("imx6", [])
        s.add_result(dataclasses.replace(make_result(old_run, "a_1.0x"), layer_breakdown=None))
    monkeypatch.undo()
    with Store(path) as s:
        assert s.schema_version() == len(store_mod.MIGRATIONS)
        assert s.results(old_run)[0].layer_breakdown is None
        new_run = s.begin_run("imx6", [])
        with_costs = dataclasses.replace(make_result(new_run, "b_1.0x"), layer_breakdown=costs)
        s.add_result(with_costs)
        assert s.results(new_run) == [with_costs]
    assert sqlite3.connect(path).execute("SELECT count(*) FROM results WHERE layer_breakdown IS NULL").fetchone() == (1,)


def test_the_report_statement_follows_the_numbers():
    from edgebench.report.breakdown import comparison

    def model(name, conv, copies, macs=1000):
        return breakdown(name, layer_costs([fc("_ZNK4ncnn15Convolution_arm7forwardERKNS_3MatERS1_RKNS_6OptionE", conv),
                                            fc("__memcpy_neon", copies)]), A9, macs)

    fd, lean_shuffle, heavy_shuffle = model("fd", 9000, 100), model("sh", 9000, 50), model("sh", 9000, 3000)
    assert "These counts support" in comparison(40, fd, heavy_shuffle)
    assert "These counts do not support" in comparison(40, fd, lean_shuffle)
    assert "fewer modeled cycles" in comparison(40, fd, lean_shuffle)
    heavy = comparison(40, fd, heavy_shuffle)
    gap = heavy_shuffle.total_cycles - fd.total_cycles
    structure = heavy_shuffle.rows[1].cycles_per_iteration - fd.rows[1].cycles_per_iteration
    assert f"{structure / gap * 100:.0f} % of that difference" in heavy
