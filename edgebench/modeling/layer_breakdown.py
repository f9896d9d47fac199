"""Where a network spends its work: the counting plugin's per-function totals (symbols=on) grouped by NCNN
layer type, and each type's share of the modeled cycles.

    functions = parse_function_counts(counts_file)          # ncnn_tools.plugin
    costs = layer_costs(functions)                          # list[LayerCost], stored with the RunResult
    table = breakdown("shufflenet_v1_g3_1.0x", costs, constants, macs)   # LayerTypeBreakdown

A function is mapped by its demangled name (binutils' c++filt, one batched call), first rule that matches:

1. no symbol covers the code (name None)                          -> "unmapped"
2. a method of an NCNN layer class, `ncnn::<Class>[_arm...]::...`  -> <Class> (ISA suffixes `_arm`,
   `_arm_vfpv4`, `_arm_asimdhp`, ... dropped; `ConvolutionDepthWise` before `Convolution`)
3. a free NCNN kernel `ncnn::<name>(...)`, by its name's prefix (KERNEL_RULES, in order):
   `convert_packing*` -> Packing; depthwise
   (`convdw*`, `convolutiondepthwise*`) -> ConvolutionDepthWise; `conv*`/`im2col*`/`winograd*`/`sgemm*`
   and the gemm tile helpers (`pack_A_tile`, `transpose_pack_B_tile`, `gemm_*`, `unpack_output_tile`; these
   CNNs have no Gemm/MatMul layer) -> Convolution; `binary_op*` -> BinaryOp; `eltwise*` -> Eltwise;
   `padding*`/`copy_make_border*` -> Padding; `pooling*` -> Pooling; `innerproduct*` -> InnerProduct;
   `shufflechannel*`, `concat*`, `relu*`, `softmax*` likewise
4. `ncnn::NetPrivate::convert_layout` (the packing/fp16 conversions NCNN inserts between layers) -> Packing
5. the rest of `ncnn::` (Net, Extractor, Mat, allocators, ParamDict, Layer base) -> "NCNN runtime"
6. the runner's own timer and marker calls (clock_gettime, std::chrono, run_benchmark, prctl)
                                                                -> "runner (timer, markers)"
7. libc memory functions (memcpy/memmove/memset and their __*_neon variants, malloc/free/calloc/realloc
   and glibc's _int_* internals, operator new/delete)  -> "memory management / copies"
8. compiler and library helpers (__aeabi_*, __divsi3 & co, soft-float __adddf3 & co, pthread mutexes,
   memcmp/strlen/strcmp, std:: containers and strings)        -> "C/C++ library helpers"
9. anything else -> "unmapped"

A function's counts go to the function itself, not its caller: a memcpy done by Concat counts under
"memory management / copies", Padding run by a convolution for its borders counts under Padding.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Sequence

from edgebench.errors import EdgebenchError
from edgebench.modeling.latency_model import CpuConstants
from edgebench.ncnn_tools.plugin import FunctionCounts
from edgebench.results.result import PER_FUNCTION_FIELDS, LayerCost

UNMAPPED = "unmapped"
RUNTIME = "NCNN runtime"
MEMORY = "memory management / copies"
HELPERS = "C/C++ library helpers"
RUNNER = "runner (timer, markers)"

# NCNN layer classes these networks (and NCNN internally) use; longest first so that a prefix never wins.
LAYER_CLASSES = tuple(sorted((
    "Convolution", "ConvolutionDepthWise", "ShuffleChannel", "Concat", "Eltwise", "BinaryOp", "Pooling",
    "InnerProduct", "Split", "Packing", "Padding", "ReLU", "Clip", "Softmax", "Flatten", "Reshape", "Crop",
    "Slice", "Dropout", "Cast", "Input", "Sigmoid", "HardSwish", "Mish", "Scale", "Bias", "Interp",
    "Quantize", "Dequantize", "Requantize", "BatchNorm", "Permute", "Reduction", "Gemm", "MatMul",
), key=len, reverse=True))
_CLASS_METHOD = re.compile(r"^ncnn::(%s)(?:_[a-z][a-z0-9_]*)?::" % "|".join(LAYER_CLASSES))
# A free function, after an optional return type (templates demangle with one: "void ncnn::f<float>(...)").
_NCNN_FREE = re.compile(r"^(?:[^(]*? )?ncnn::([A-Za-z_][A-Za-z0-9_]*)(?:<[^(]*>)?\(")

# (prefix of a free kernel function's name, layer type), first match wins.
KERNEL_RULES: tuple[tuple[str, str], ...] = (
    ("convert_packing", "Packing"), ("convdw", "ConvolutionDepthWise"), ("convolutiondepthwise", "ConvolutionDepthWise"),
    ("conv", "Convolution"), ("im2col", "Convolution"), ("winograd", "Convolution"), ("sgemm", "Convolution"),
    ("pack_A_tile", "Convolution"), ("transpose_pack_", "Convolution"), ("pack_B_tile", "Convolution"),
    ("gemm_", "Convolution"), ("unpack_output_tile", "Convolution"),
    ("binary_op", "BinaryOp"), ("eltwise", "Eltwise"), ("padding", "Padding"), ("copy_make_border", "Padding"),
    ("pooling", "Pooling"), ("innerproduct", "InnerProduct"),
    ("shufflechannel", "ShuffleChannel"), ("concat", "Concat"), ("relu", "ReLU"), ("softmax", "Softmax"),
)
_MEMORY = re.compile(r"^(__)?(memcpy|memmove|memset|bzero|malloc|free|calloc|realloc|posix_memalign|"
                     r"memalign|aligned_alloc|cfree)(_[a-z0-9_]+)?$|^__libc_(malloc|free|calloc|realloc|memalign)$|"
                     r"^_int_(malloc|free|realloc|memalign)|^(malloc|sysmalloc|tcache|malloc_consolidate|unlink_chunk)|"
                     r"^operator (new|delete)")
_HELPERS = re.compile(r"^__aeabi_|^__(u)?(div|mod)(s|d)i3$|^__u?divmoddi4$|pthread_mutex|^__lll_(un)?lock|"
                      r"^(mem|str)(cmp|len|chr|ncmp)$|^std::|"
                      r"^__(add|sub|mul|div|neg|float|fix|extend|trunc|cmp|eq|ne|lt|le|gt|ge|unord)\w*[sdt]f\d?$")
# The runner's own code inside a timed iteration: reading the clock, and the marker syscall itself.
_RUNNER = re.compile(r"clock_gettime|^std::chrono::|^run_benchmark\(|^__libc_do_syscall$|^(__)?prctl$")


def demangle(names: Sequence[str]) -> dict[str, str]:
    """Mangled -> demangled, in one c++filt call (names that are not C++ come back unchanged)."""
    exe = shutil.which("c++filt") or shutil.which("arm-linux-gnueabihf-c++filt")
    if exe is None:
        raise EdgebenchError("c++filt not found: cannot demangle the runner's symbols",
                             hint="sudo apt-get install binutils")
    unique = sorted(set(names))
    proc = subprocess.run([exe], input="\n".join(unique) + "\n", capture_output=True, text=True, timeout=120)
    out = proc.stdout.splitlines()
    if proc.returncode != 0 or len(out) != len(unique):
        raise EdgebenchError(f"c++filt failed on {len(unique)} symbol(s): {proc.stderr.strip()[:200]}")
    return dict(zip(unique, out))


def layer_type_of(demangled: str | None) -> str:
    """The bucket of one demangled function name (the rules in this module's docstring)."""
    if demangled is None:
        return UNMAPPED
    if m := _CLASS_METHOD.match(demangled):
        return m.group(1)
    if m := _NCNN_FREE.match(demangled):
        name = m.group(1)
        for prefix, layer_type in KERNEL_RULES:
            if name.startswith(prefix):
                return layer_type
    if demangled.startswith("ncnn::NetPrivate::convert_layout("):
        return "Packing"
    if demangled.startswith("ncnn::"):
        return RUNTIME
    if _RUNNER.search(demangled):
        return RUNNER
    if _MEMORY.search(demangled):
        return MEMORY
    if _HELPERS.search(demangled):
        return HELPERS
    return UNMAPPED


def layer_costs(functions: Sequence[FunctionCounts]) -> list[LayerCost]:
    """Per-function totals summed per layer type, most instructions first."""
    if not functions:
        raise EdgebenchError("no per-function counts to group (was the run counted with symbols on?)")
    iterations = {f.iterations for f in functions}
    if len(iterations) != 1:
        raise EdgebenchError(f"per-function counts over different iteration counts: {sorted(iterations)}")
    n = iterations.pop()
    names = demangle([f.name for f in functions if f.name is not None])
    groups: dict[str, list[FunctionCounts]] = {}
    for f in functions:
        groups.setdefault(layer_type_of(None if f.name is None else names[f.name]), []).append(f)
    costs = [LayerCost(layer_type=t, iterations=n,
                       functions=len(fs), **{k: sum(getattr(f, k) for f in fs) for k in PER_FUNCTION_FIELDS})
             for t, fs in groups.items()]
    return sorted(costs, key=lambda c: (-c.instructions, c.layer_type))


def counted_layer_costs(counts_file) -> list[LayerCost]:
    """The one call edgebench.bench.session makes: a symbols=on counts file -> per layer type costs."""
    from edgebench.ncnn_tools.plugin import parse_function_counts

    return layer_costs(parse_function_counts(counts_file))


def modeled_cycles(cost: LayerCost, constants: CpuConstants) -> float:
    """Cycles per timed iteration the latency model gives this layer type's counts."""
    missing = [e for e in constants.cycles_per if e not in PER_FUNCTION_FIELDS]
    if missing:
        raise EdgebenchError(f"the {constants.cpu} latency model uses {', '.join(missing)}, which the "
                             "per-function counts do not split", hint="per-function counts hold " + ", ".join(PER_FUNCTION_FIELDS))
    return sum(c * getattr(cost, e) for e, c in constants.cycles_per.items()) / cost.iterations


@dataclass(frozen=True)
class LayerTypeShare:
    cost: LayerCost
    cycles_per_iteration: float  # modeled
    cycles_share: float  # of the model's modeled cycles, 0..1


@dataclass(frozen=True)
class LayerTypeBreakdown:
    """One model's modeled cycles and counts per layer type (per timed iteration)."""

    model: str
    cpu: str
    macs: int | None
    rows: tuple[LayerTypeShare, ...]  # most modeled cycles first

    @property
    def total_cycles(self) -> float:
        return sum(r.cycles_per_iteration for r in self.rows)

    def share_of(self, layer_types: Sequence[str]) -> float:
        return sum(r.cycles_share for r in self.rows if r.cost.layer_type in layer_types)

    def per_iteration(self, field: str, layer_types: Sequence[str] | None = None) -> float:
        return sum(getattr(r.cost, field) / r.cost.iterations for r in self.rows
                   if layer_types is None or r.cost.layer_type in layer_types)


def breakdown(model: str, costs: Sequence[LayerCost], constants: CpuConstants, macs: int | None = None) -> LayerTypeBreakdown:
    cycles = [(c, modeled_cycles(c, constants)) for c in costs]
    total = sum(v for _, v in cycles)
    if total <= 0:
        raise EdgebenchError(f"{model}: no modeled cycles to share out")
    rows = sorted((LayerTypeShare(c, v, v / total) for c, v in cycles), key=lambda r: -r.cycles_per_iteration)
    return LayerTypeBreakdown(model, constants.cpu, macs, tuple(rows))
