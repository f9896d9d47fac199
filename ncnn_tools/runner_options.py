"""What to ask edgebench-runner for, as a typed value that becomes its command line."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.errors import EdgebenchError
from edgebench.results.result import RunSettings


@dataclass(frozen=True)
class RunnerOptions:
    """One invocation. Paths are as the runner will see them (local, or on the board)."""

    param: str
    bin: str | None = None  # None = generated zero weights (NCNN's benchmark params)
    shape: tuple[int, int, int] | None = None  # C, H, W; None = the param's Input layer declares it
    input: str | None = None  # raw float32 CHW file; None = seeded input
    input_blob: str | None = None
    output_blob: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)
    output_values: bool = False

    def argv(self) -> list[str]:
        s = self.settings
        if not s.fp16_packed == s.fp16_storage == s.fp16_arithmetic:
            raise EdgebenchError("the runner switches fp16 packed/storage/arithmetic together; got mixed settings",
                                 hint="set all three fp16 fields of RunSettings to the same value")
        args = ["--param", self.param]
        if self.bin is not None:
            args += ["--bin", self.bin]
        if self.shape is not None:
            args += ["--shape", ",".join(str(int(d)) for d in self.shape)]
        if self.input is not None:
            args += ["--input", self.input]
        if self.input_blob is not None:
            args += ["--input-blob", self.input_blob]
        if self.output_blob is not None:
            args += ["--output-blob", self.output_blob]
        args += ["--seed", str(s.seed), "--threads", str(s.threads), "--powersave", str(s.powersave),
                 "--warmup", str(s.warmup), "--loops", str(s.loops), "--min-time-ms", repr(float(s.min_time_ms)),
                 "--fp16", _on(s.fp16_storage), "--bf16", _on(s.bf16_storage), "--packing", _on(s.packing_layout)]
        if s.cpus is not None:
            args += ["--cpus", ",".join(str(int(c)) for c in s.cpus)]
        if self.output_values:
            args.append("--output-values")
        return args + ["--json"]


def _on(flag: bool) -> str:
    return "on" if flag else "off"
