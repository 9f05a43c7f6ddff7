// Matrix products built for AVX-512 (gemm_avx512_body.h, compiled in dense_simd_avx512.cpp).
#ifndef LEMMA_GEMM_AVX512_H
#define LEMMA_GEMM_AVX512_H

namespace lemma {

// Whether the products below were built (Eigen >= 3.4, g++ on x86-64).
bool avx512_gemm_built();
// Whether they may be called: built, the CPU has AVX-512 F/DQ/VL/BW, and
// LEMMA_SIMD allows it (simd_env.cpp).
bool avx512_gemm_available();
// C = A B in single precision, all column-major without padding: A m x k,
// B k x q, C m x q. One thread.
void avx512_float_product(const float* a, int m, int k, const float* b, int q,
                          float* c);
// C = A' B in double precision: A n x p (leading dimension lda), B n x q
// (ldb), C p x q without padding. One thread.
void avx512_double_crossprod(const double* a, int n, int p, int lda,
                             const double* b, int q, int ldb, double* c);

}  // namespace lemma

#endif
