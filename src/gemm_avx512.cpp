// Matrix products compiled for AVX-512 and chosen at run time.
//
// The genome scan rotates the genotypes by U' in single precision (scan.cpp,
// rotate_mixed), an O(n^2) product per SNP that dominates the scan at n in
// the thousands, and forms its cross-products with the weights in double.
// R's BLAS may not use the CPU's widest vectors (OpenBLAS 0.3.21 runs its
// Haswell kernels on an AMD EPYC with AVX-512), and R's portable flags allow
// only SSE2 to Eigen. Eigen 3.4's products built for AVX-512 measured ~1.8x
// faster than that BLAS in single precision and ~1.4x in double, on one core
// (Eigen 3.3.9's gained nothing from AVX-512), so this file is compiled for
// AVX-512 through a target pragma, with Eigen's templates renamed into a
// namespace of their own so the AVX-512 instantiations can never be merged by
// the linker with the baseline ones used everywhere else. Only raw pointers
// cross the boundary.
#include "gemm_avx512.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#ifndef __AVX512F__
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
// g++ does not update these macros for a target pragma; Eigen reads them to
// choose its packets
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define __AVX512F__ 1
#define __AVX512DQ__ 1
#define __AVX512VL__ 1
#define __AVX512BW__ 1
#endif
#define LEMMA_AVX512_BUILD 1
#endif

#define Eigen lemma_avx512_eigen
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

// Eigen 3.3 compiles here, but its products gain nothing from AVX-512
#if defined(LEMMA_AVX512_BUILD) && EIGEN_VERSION_AT_LEAST(3, 4, 0)
#define LEMMA_HAVE_AVX512_GEMM 1
#endif

namespace lemma {

#ifdef LEMMA_HAVE_AVX512_GEMM
namespace {

// The product runs as a sum of products over slices of kc columns of A. Each
// entry of a slice's product is one chain of fused multiply-adds, whose
// roundings are relative to its running partial sum, and each slice's result
// is rounded once more when added to C: the float error of an entry grows like
// sqrt(kc + k / kc) times its size. Eigen left alone takes kc from the L1 size
// (~800 on a 48 KB L1, for k ~ 5,000): 1.6x the error of OpenBLAS's kc = 384,
// and so more SNPs redone in double. Slices of kc ~ sqrt(k) (between 48 and
// 128) give two thirds of OpenBLAS's error, and measured as fast as Eigen's
// own blocking or faster (kc is then small enough that Eigen keeps all the
// columns of B in one panel).
int slice_columns(int k) {
  const int kc = 8 * static_cast<int>(std::sqrt(static_cast<double>(k)) / 8.0 + 0.5);
  return std::min(128, std::max(48, kc));
}

}  // namespace
#endif

// (a constant: safe to call on any CPU; the check of the CPU is in
// simd_env.cpp, compiled for the baseline)
bool avx512_gemm_built() {
#ifdef LEMMA_HAVE_AVX512_GEMM
  return true;
#else
  return false;
#endif
}

void avx512_float_product(const float* a, int m, int k, const float* b, int q,
                          float* c) {
#ifdef LEMMA_HAVE_AVX512_GEMM
  typedef Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> Mat;
  Eigen::Map<const Mat> A(a, m, k), B(b, k, q);
  Eigen::Map<Mat> C(c, m, q);
  const int kc = slice_columns(k);
  C.setZero();
  for (int k0 = 0; k0 < k; k0 += kc) {
    const int kn = std::min(kc, k - k0);
    C.noalias() += A.middleCols(k0, kn) * B.middleRows(k0, kn);
  }
#else
  (void)a; (void)m; (void)k; (void)b; (void)q; (void)c;
#endif
}

void avx512_double_crossprod(const double* a, int n, int p, int lda,
                             const double* b, int q, int ldb, double* c) {
#ifdef LEMMA_HAVE_AVX512_GEMM
  typedef Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> Mat;
  typedef Eigen::Map<const Mat, 0, Eigen::OuterStride<> > CMap;
  CMap A(a, n, p, Eigen::OuterStride<>(lda)), B(b, n, q, Eigen::OuterStride<>(ldb));
  Eigen::Map<Mat> C(c, p, q);
  C.noalias() = A.transpose() * B;
#else
  (void)a; (void)n; (void)p; (void)lda; (void)b; (void)q; (void)ldb; (void)c;
#endif
}

}  // namespace lemma
