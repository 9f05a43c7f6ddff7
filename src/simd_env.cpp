// LEMMA_SIMD, read once (see simd_env.h). Compiled with the baseline flags:
// called before any kernel built for a wider instruction set is chosen.
#include "simd_env.h"

#include <Rcpp.h>
#include <cstdlib>
#include <stdexcept>

#include "gemm_avx512.h"

namespace lemma {

namespace {

struct SimdEnv {
  std::string value;
  int cap;
  bool valid;
  SimdEnv() : cap(kSimdAvx512), valid(true) {
    const char* v = std::getenv("LEMMA_SIMD");
    value = v == NULL ? "" : v;
    if (value == "none") cap = kSimdNone;
    else if (value == "avx2") cap = kSimdAvx2;
    else valid = value.empty() || value == "avx512";
  }
};

// function-local static: initialised once, thread-safely, at the first call
const SimdEnv& simd_env() {
  static const SimdEnv env;
  return env;
}

}  // namespace

int simd_env_cap() { return simd_env().cap; }

int simd_level() {
  if (!simd_env().valid)
    throw std::invalid_argument("the environment variable LEMMA_SIMD is '" + simd_env().value +
                                "'; use \"avx512\", \"avx2\" or \"none\", or leave it unset");
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const int level =
      simd_env_cap() >= kSimdAvx512 && __builtin_cpu_supports("avx512f") &&
              __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
              __builtin_cpu_supports("avx512bw")
          ? kSimdAvx512
          : simd_env_cap() >= kSimdAvx2 && __builtin_cpu_supports("avx2") &&
                    __builtin_cpu_supports("fma")
                ? kSimdAvx2
                : kSimdNone;
  return level;
#else
  return kSimdNone;
#endif
}

bool avx512_gemm_available() {
  static const bool ok = avx512_gemm_built() && simd_level() >= kSimdAvx512;
  return ok;
}

std::string simd_env_value() { return simd_env().value; }
bool simd_env_valid() { return simd_env().valid; }

}  // namespace lemma

// LEMMA_SIMD as read by this session, whether it is valid, the level of the
// kernels chosen ("none", "avx2", "avx512") and whether the scan's products
// run in the AVX-512 build (else in R's BLAS or Eigen's baseline build).
// [[Rcpp::export(.simd_info, rng = false)]]
Rcpp::List simd_info_cpp() {
  const char* levels[] = {"none", "avx2", "avx512"};
  return Rcpp::List::create(
      Rcpp::Named("env") = lemma::simd_env_value(),
      Rcpp::Named("valid") = lemma::simd_env_valid(),
      Rcpp::Named("level") = lemma::simd_env_valid() ? std::string(levels[lemma::simd_level()]) : std::string("invalid"),
      Rcpp::Named("avx512_gemm") = lemma::simd_env_valid() && lemma::avx512_gemm_available());
}
