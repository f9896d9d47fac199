# Cortex-A9 (i.MX6 and friends): ARMv7-A, hard-float, NEON with VFPv3 only.
# Never VFPv4 (-mfpu=neon-vfpv4): the A9 has no fused multiply-add and dies with "Illegal instruction".
# -marm: Debian's cross-gcc defaults to Thumb-2, where NCNN's bf16 inline asm has impossible constraints.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)  # must start with "arm" or NCNN skips its ARM kernels

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfloat-abi=hard -mfpu=neon -marm")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfloat-abi=hard -mfpu=neon -marm")
