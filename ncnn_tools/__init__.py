"""The native side: NCNN cross-builds, edgebench-runner, toolchain files and the QEMU counting plugin."""
