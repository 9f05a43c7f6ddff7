// LEMMA_SIMD, read once (see simd_env.h). Compiled with the baseline flags:
// called before any kernel built for a wider instruction set is chosen.
#include "simd_env.h"

#include <Rcpp.h>
#include <cstdlib>

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
std::string simd_env_value() { return simd_env().value; }
bool simd_env_valid() { return simd_env().valid; }

}  // namespace lemma

// LEMMA_SIMD as read by this session, whether it is valid, and which float
// product the scan's rotation uses ("avx512" or "blas/eigen").
// [[Rcpp::export(.simd_info, rng = false)]]
Rcpp::List simd_info_cpp() {
  return Rcpp::List::create(
      Rcpp::Named("env") = lemma::simd_env_value(),
      Rcpp::Named("valid") = lemma::simd_env_valid(),
      Rcpp::Named("avx512_gemm") = lemma::avx512_gemm_available());
}
