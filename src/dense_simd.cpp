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
#include <memory>
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

// Eigen's unblocked LLT (the matrix-vector products inside it) chooses which rows
// go through scalar and which through packet code from the run-time address of the
// data. With 32-byte AVX packets and buffers allocated elsewhere with 16-byte
// alignment, the rounding of the factor would depend on where malloc put the matrix:
// the same fit could differ in its last bits from one call to the next. So each
// diagonal block is factored on a copy aligned to kAlign bytes (the panel division
// and the trailing update pack their operands and do not depend on alignment).
const std::uintptr_t kAlign = 64;

// Lower Cholesky factor, in place, of the kb x kb block at `a` (leading dimension
// lda), computed on an aligned copy; false if not positive definite.
bool llt_aligned_copy(double* a, int kb, int lda) {
  using Eigen::MatrixXd;
  const std::size_t pad = kAlign / sizeof(double);
  std::unique_ptr<double[]> buf(new double[static_cast<std::size_t>(kb) * kb + pad]);
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(buf.get());
  double* p = buf.get() + ((kAlign - addr % kAlign) % kAlign) / sizeof(double);
  Eigen::Map<MatrixXd, 0, Eigen::OuterStride<> > src(a, kb, kb, Eigen::OuterStride<>(lda));
  Eigen::Map<MatrixXd> work(p, kb, kb);
  work = src;
  Eigen::LLT<Eigen::Ref<MatrixXd> > llt(work);
  if (llt.info() != Eigen::Success) return false;
  src.triangularView<Eigen::Lower>() = work;
  return true;
}

// Panel width and, with several threads, the fixed partition of the work: rows of
// the panel below the diagonal block in strips of kStripRows, the trailing triangle
// in at most kMaxCols column strips of equal work. The partition does not depend on
// the number of threads and each strip is computed by one thread with the same
// operations, so the factor has the same bits for any thread count >= 2. One thread
// works on whole panels (one piece each), which measured faster on InstEval; its
// factor differs from the split one in the last bits.
const int kPanel = 128, kStripRows = 256, kMaxCols = 4;

}  // namespace

// Right-looking blocked Cholesky on `threads` OpenMP threads (below 256 rows one
// diagonal block).
bool simd_cholesky(double* a, int n, int threads) {
  using Eigen::MatrixXd;
  Eigen::Map<MatrixXd> A(a, n, n);
  if (n < 256) return llt_aligned_copy(a, n, n);
  // Factor a diagonal block, divide the panel below it, update the trailing lower
  // triangle.
  for (int k = 0; k < n; k += kPanel) {
    const int kb = std::min(kPanel, n - k), m = n - k - kb;
    if (!llt_aligned_copy(a + k + static_cast<std::size_t>(k) * n, kb, n)) return false;
    Eigen::Block<Eigen::Map<MatrixXd> > a11 = A.block(k, k, kb, kb);
    if (m == 0) break;
    const MatrixXd u11 = a11.transpose().triangularView<Eigen::Upper>();
    Eigen::Block<Eigen::Map<MatrixXd> > a21 = A.block(k + kb, k, m, kb);
    const bool split = threads > 1;
    const int nrs = split ? (m + kStripRows - 1) / kStripRows : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nrs > 1)
#endif
    for (int s = 0; s < nrs; ++s) {
      const int r0 = split ? s * kStripRows : 0, r1 = split ? std::min(m, r0 + kStripRows) : m;
      Eigen::Block<Eigen::Block<Eigen::Map<MatrixXd> > > strip = a21.middleRows(r0, r1 - r0);
      u11.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(strip);
    }
    const int ncs = split ? std::max(1, std::min(kMaxCols, m / 32)) : 1;
    std::vector<int> cut(ncs + 1);
    for (int s = 0; s <= ncs; ++s)
      cut[s] = static_cast<int>(m - m * std::sqrt(1.0 - static_cast<double>(s) / ncs));
    cut[ncs] = m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1 && ncs > 1)
#endif
    for (int s = 0; s < ncs; ++s) {
      const int c0 = cut[s], c1 = cut[s + 1], w = c1 - c0;
      if (w <= 0) continue;
      // The strip's diagonal square by a lower-triangle update (no flops spent on
      // its upper half), the rows below it by a product.
      A.block(k + kb + c0, k + kb + c0, w, w).selfadjointView<Eigen::Lower>().rankUpdate(
          a21.middleRows(c0, w), -1.0);
      if (c1 < m)
        A.block(k + kb + c1, k + kb + c0, m - c1, w).noalias() -=
            a21.middleRows(c1, m - c1) * a21.middleRows(c0, w).transpose();
    }
  }
  return true;
}

// (L L')^{-1} from its lower Cholesky factor: L^{-1} a column panel at a time (each
// panel a triangular solve with the trailing part of L only: n^3/3 flops in all),
// then the lower triangle of L^{-T} L^{-1} a column panel at a time, with the
// triangular structure of L^{-1} used (n^3/6). One thread, no BLAS: OpenBLAS's
// dpotri spins its worker threads on a machine shared with other processes.
void simd_spd_inverse_lower(double* a, int n) {
  using Eigen::MatrixXd;
  Eigen::Map<MatrixXd> A(a, n, n);
  // In place, panel by panel from the left: panel J of L^{-1} needs the columns of
  // L from J on, and replaces panel J of L once solved (later panels read only
  // columns to its right). Likewise panel J of the product needs the columns of
  // L^{-1} from J on. One panel-sized buffer, no second n x n matrix.
  MatrixXd X;
  for (int j = 0; j < n; j += kPanel) {
    const int nb = std::min(kPanel, n - j), m = n - j;
    X.setZero(m, nb);
    X.topRows(nb).setIdentity();
    A.block(j, j, m, m).triangularView<Eigen::Lower>().solveInPlace(X);
    A.block(j, j, m, nb) = X;
  }
  for (int j = 0; j < n; j += kPanel) {
    const int nb = std::min(kPanel, n - j), m = n - j;
    // Z(j:, J) = Li(j:, j:)' Li(j:, J); Li(j:, j:)' is upper triangular
    X.noalias() = A.block(j, j, m, m).transpose().triangularView<Eigen::Upper>() * A.block(j, j, m, nb);
    A.block(j, j, m, nb) = X;
  }
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
