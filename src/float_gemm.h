// Single-precision product built for AVX-512 (see float_gemm.cpp).
#ifndef LEMMA_FLOAT_GEMM_H
#define LEMMA_FLOAT_GEMM_H

namespace lemma {

// Whether avx512_float_product() may be called: built with Eigen >= 3.4 by
// g++ on x86-64, the CPU has AVX-512 F/DQ/VL/BW, and LEMMA_SIMD allows it.
bool avx512_gemm_available();
// C = A B, all column-major without padding: A m x k, B k x q, C m x q. One
// thread.
void avx512_float_product(const float* a, int m, int k, const float* b, int q,
                          float* c);

}  // namespace lemma

#endif
