"""Did the board compute what the host computes? Its output against host NCNN's on the very same input, by the
parity figures export uses for the settings that get timed (one cosine, one threshold: export.parity)."""

from __future__ import annotations

import numpy as np

from edgebench.bench.artifacts import Prepared
from edgebench.export.parity import AS_TIMED, compare
from edgebench.ncnn_tools.report import RunnerReport

# Below this the board computed something else than the host did on the same input (NCNN's fp16 paths
# differ by ~1e-4 relative; a wrong kernel or a bad conversion is far below).
MIN_COSINE_VS_HOST = AS_TIMED.min_cosine


def host_cosine(prepared: Prepared, report: RunnerReport) -> float:
    """How close the board's output is to host NCNN's on the very same input (seeded in both places); 0 when
    its shape differs or it holds NaN/Inf."""
    from edgebench.export.host_inference import run_ncnn
    from edgebench.ncnn_tools.seeded_input import seeded_input

    m, s = prepared.manifest, report.settings
    x = seeded_input((1, *m.ncnn_input.shape), s.seed)
    host = run_ncnn(prepared.folder / m.param_file, prepared.folder / m.bin_file, m.ncnn_input.name,
                    m.ncnn_output.name, x, fp16=s.fp16_storage)
    board = np.asarray(report.output.values or [], dtype=np.float64)
    return compare("host NCNN -> board", host, board, AS_TIMED).cosine
