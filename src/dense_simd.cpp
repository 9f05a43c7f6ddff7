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
#include <cstddef>
#include <cstdint>
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

namespace {

// Eigen's matrix-vector products (inside its unblocked LLT) choose which rows go
// through scalar and which through packet code from the run-time address of the
// data. With 32-byte AVX packets and buffers allocated elsewhere with 16-byte
// alignment, the rounding of the factor would depend on where malloc put the matrix:
// the same fit could differ in its last bits from one call to the next. Every
// factorization therefore works on a buffer aligned to kAlign bytes.
const std::uintptr_t kAlign = 64;

// Panel width and the fixed partition of the work: rows of the panel below the
// diagonal block in strips of kStripRows, the trailing triangle in at most kMaxCols
// column strips of equal work. None of it depends on the number of threads, and each
// strip is computed by one thread with the same operations, so the factor has the
// same bits for any thread count.
const int kPanel = 128, kStripRows = 64, kMaxCols = 8;

bool cholesky_aligned(double* a, int n, int threads) {
  using Eigen::MatrixXd;
  Eigen::Map<MatrixXd> A(a, n, n);
  if (n < 256) {
    Eigen::LLT<Eigen::Ref<MatrixXd> > llt(A);
    return llt.info() == Eigen::Success;
  }
  // Right-looking blocked Cholesky: factor a diagonal block, divide the panel below
  // it, update the trailing lower triangle.
  for (int k = 0; k < n; k += kPanel) {
    const int kb = std::min(kPanel, n - k), m = n - k - kb;
    Eigen::Block<Eigen::Map<MatrixXd> > a11 = A.block(k, k, kb, kb);
    Eigen::LLT<Eigen::Ref<MatrixXd> > llt(a11);
    if (llt.info() != Eigen::Success) return false;
    if (m == 0) break;
    const MatrixXd u11 = a11.transpose().triangularView<Eigen::Upper>();
    Eigen::Block<Eigen::Map<MatrixXd> > a21 = A.block(k + kb, k, m, kb);
    const int nrs = (m + kStripRows - 1) / kStripRows;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nrs > 1)
#endif
    for (int s = 0; s < nrs; ++s) {
      const int r0 = s * kStripRows, r1 = std::min(m, r0 + kStripRows);
      Eigen::Block<Eigen::Block<Eigen::Map<MatrixXd> > > strip = a21.middleRows(r0, r1 - r0);
      u11.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(strip);
    }
    const int ncs = std::max(1, std::min(kMaxCols, m / 32));
    std::vector<int> cut(ncs + 1);
    for (int s = 0; s <= ncs; ++s)
      cut[s] = static_cast<int>(m - m * std::sqrt(1.0 - static_cast<double>(s) / ncs));
    cut[ncs] = m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1 && ncs > 1)
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

}  // namespace

// The blocked factorization on `threads` OpenMP threads, on an aligned copy when `a`
// is not aligned (an O(n^2) copy against O(n^3) work).
bool simd_cholesky(double* a, int n, int threads) {
  if (reinterpret_cast<std::uintptr_t>(a) % kAlign == 0) return cholesky_aligned(a, n, threads);
  const std::size_t len = static_cast<std::size_t>(n) * n;
  std::vector<double> buf(len + kAlign / sizeof(double));
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(buf.data());
  double* p = buf.data() + ((kAlign - addr % kAlign) % kAlign) / sizeof(double);
  std::copy(a, a + len, p);
  const bool ok = cholesky_aligned(p, n, threads);
  std::copy(p, p + len, a);
  return ok;
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
