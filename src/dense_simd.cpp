// Dense kernels compiled for AVX2 + FMA and chosen at run time when the CPU has them.
//
// R's portable build flags allow only SSE2, which halves the speed of the dense
// Cholesky that dominates crossed models. This file is compiled for AVX2 through a
// target pragma, with Eigen's templates renamed into a namespace of their own so the
// AVX2 instantiations can never be merged by the linker with the baseline ones used
// everywhere else. Only raw pointers cross the boundary.
#include "dense_simd.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define LEMMA_HAVE_SIMD_BUILD 1
#endif

#define Eigen lemma_simd_eigen
#include <Eigen/Dense>

namespace lemma {

bool simd_available() {
#ifdef LEMMA_HAVE_SIMD_BUILD
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

bool simd_cholesky(double* a, int n) {
  Eigen::Map<Eigen::MatrixXd> m(a, n, n);
  Eigen::LLT<Eigen::Ref<Eigen::MatrixXd> > llt(m);
  return llt.info() == Eigen::Success;
}

void simd_rdiv_lower_t(double* b, int nrow, int ncol, const double* l) {
  Eigen::Map<Eigen::MatrixXd> B(b, nrow, ncol);
  Eigen::Map<const Eigen::MatrixXd> L(l, ncol, ncol);
  L.transpose().triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(B);
}

void simd_rank_update_lower(double* c, int n, const double* a, int k) {
  Eigen::Map<Eigen::MatrixXd> C(c, n, n);
  Eigen::Map<const Eigen::MatrixXd> A(a, n, k);
  C.selfadjointView<Eigen::Lower>().rankUpdate(A, -1.0);
}

}  // namespace lemma
