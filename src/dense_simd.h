// Dense kernels built for AVX-512 or AVX2 + FMA and chosen at run time (see
// dense_simd.cpp). Call the kernels only when simd_available() is true; all matrices
// are column-major.
#ifndef LEMMA_DENSE_SIMD_H
#define LEMMA_DENSE_SIMD_H

namespace lemma {

bool simd_available();
// The kernel set in use: "avx512", "avx2" or "none".
const char* simd_kernel_set();
// In-place lower Cholesky of the n x n matrix a on `threads` threads (only the
// lower triangle is read and written); false if not positive definite.
bool simd_cholesky(double* a, int n, int threads);
// Lower triangle of (L L')^{-1}, in place of the n x n lower Cholesky factor L
// (the strict upper triangle is overwritten too), on `threads` threads.
void simd_spd_inverse_lower(double* a, int n, int threads = 1);
// B = B L^{-T}, B nrow x ncol, L ncol x ncol lower triangular.
void simd_rdiv_lower_t(double* b, int nrow, int ncol, const double* l);
// Lower triangle of C -= A A', C n x n, A n x k.
void simd_rank_update_lower(double* c, int n, const double* a, int k);

}  // namespace lemma

#endif
