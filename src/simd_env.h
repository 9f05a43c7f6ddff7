// The environment variable LEMMA_SIMD, which caps the instruction sets of the
// kernels lemma chooses at run time (for checks and for comparing paths).
#ifndef LEMMA_SIMD_ENV_H
#define LEMMA_SIMD_ENV_H

#include <string>

namespace lemma {

enum SimdLevel { kSimdNone = 0, kSimdAvx2 = 1, kSimdAvx512 = 2 };

// The highest level LEMMA_SIMD allows: "none", "avx2", "avx512"; unset or empty
// allows all. Read once, at the first call.
int simd_env_cap();
// The widest of these levels that the CPU runs (AVX-512 F/DQ/VL/BW; AVX2 with
// FMA) and LEMMA_SIMD allows; kSimdNone off x86. Throws std::invalid_argument,
// naming the value, when LEMMA_SIMD is set to anything else (an R error at every
// use: a cap that is silently ignored would make a comparison of paths meaningless).
int simd_level();
// LEMMA_SIMD as read, and whether it is one of the accepted values or empty.
std::string simd_env_value();
bool simd_env_valid();

}  // namespace lemma

#endif
