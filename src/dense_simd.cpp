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
#include <algorithm>
#include <cmath>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace lemma {

bool simd_available() {
#ifdef LEMMA_HAVE_SIMD_BUILD
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

// Right-looking blocked Cholesky: factor a diagonal block, divide the panel below
// it, update the trailing lower triangle. The panel division and the trailing
// update are split into strips run on `threads` OpenMP threads; strips of the
// trailing triangle are cut so that each holds about the same work.
bool simd_cholesky(double* a, int n, int threads) {
  using Eigen::MatrixXd;
  Eigen::Map<MatrixXd> A(a, n, n);
  if (threads <= 1 || n < 256) {
    Eigen::LLT<Eigen::Ref<MatrixXd> > llt(A);
    return llt.info() == Eigen::Success;
  }
  const int nb = 128;
  for (int k = 0; k < n; k += nb) {
    const int kb = std::min(nb, n - k), m = n - k - kb;
    Eigen::Block<Eigen::Map<MatrixXd> > a11 = A.block(k, k, kb, kb);
    Eigen::LLT<Eigen::Ref<MatrixXd> > llt(a11);
    if (llt.info() != Eigen::Success) return false;
    if (m == 0) break;
    const MatrixXd u11 = a11.transpose().triangularView<Eigen::Upper>();
    Eigen::Block<Eigen::Map<MatrixXd> > a21 = A.block(k + kb, k, m, kb);
    const int nrs = std::max(1, std::min(2 * threads, m / 64));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int s = 0; s < nrs; ++s) {
      const int r0 = static_cast<int>(static_cast<long>(m) * s / nrs);
      const int r1 = static_cast<int>(static_cast<long>(m) * (s + 1) / nrs);
      Eigen::Block<Eigen::Block<Eigen::Map<MatrixXd> > > strip = a21.middleRows(r0, r1 - r0);
      u11.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(strip);
    }
    const int ncs = std::max(1, std::min(4 * threads, m / 32));
    std::vector<int> cut(ncs + 1);
    for (int s = 0; s <= ncs; ++s)
      cut[s] = static_cast<int>(m - m * std::sqrt(1.0 - static_cast<double>(s) / ncs));
    cut[ncs] = m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic)
#endif
    for (int s = 0; s < ncs; ++s) {
      const int c0 = cut[s], c1 = cut[s + 1];
      if (c1 <= c0) continue;
      A.block(k + kb + c0, k + kb + c0, m - c0, c1 - c0).noalias() -=
          a21.middleRows(c0, m - c0) * a21.middleRows(c0, c1 - c0).transpose();
    }
  }
  return true;
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
