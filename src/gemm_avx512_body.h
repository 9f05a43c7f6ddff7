// The genome scan's matrix products (declared in gemm_avx512.h), compiled only in
// dense_simd_avx512.cpp under its AVX-512 target pragma, after the dense kernels:
// one translation unit, one pragma, for everything built for AVX-512.
//
// The scan rotates the genotypes by U' in single precision (scan.cpp,
// rotate_mixed), an O(n^2) product per SNP that dominates the scan at n in the
// thousands, and forms its cross-products with the weights in double. R's BLAS
// may not use the CPU's widest vectors (OpenBLAS 0.3.21 runs its Haswell kernels
// on an AMD EPYC with AVX-512); Eigen 3.4's products built for AVX-512 measured
// ~1.8x faster than that BLAS in single precision and ~1.4x in double, on one core.
// No include guard on purpose.
namespace lemma {

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

void avx512_float_product(const float* a, int m, int k, const float* b, int q,
                          float* c) {
  typedef Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> Mat;
  Eigen::Map<const Mat> A(a, m, k), B(b, k, q);
  Eigen::Map<Mat> C(c, m, q);
  const int kc = slice_columns(k);
  C.setZero();
  for (int k0 = 0; k0 < k; k0 += kc) {
    const int kn = std::min(kc, k - k0);
    C.noalias() += A.middleCols(k0, kn) * B.middleRows(k0, kn);
  }
}

void avx512_double_crossprod(const double* a, int n, int p, int lda,
                             const double* b, int q, int ldb, double* c) {
  typedef Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> Mat;
  typedef Eigen::Map<const Mat, 0, Eigen::OuterStride<> > CMap;
  CMap A(a, n, p, Eigen::OuterStride<>(lda)), B(b, n, q, Eigen::OuterStride<>(ldb));
  Eigen::Map<Mat> C(c, p, q);
  C.noalias() = A.transpose() * B;
}

}  // namespace lemma
