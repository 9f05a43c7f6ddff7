// The bodies of the dense kernels, compiled once per instruction set: the including
// translation unit (dense_simd_avx2.cpp, dense_simd_avx512.cpp) sets the target
// pragma, renames Eigen's namespace, includes Eigen, defines LEMMA_KERNEL_NS (the
// namespace of this copy) and then includes this file once. No include guard on
// purpose. The kernels' contract is in dense_simd.h.
//
// Same call, same bits (on one machine, at one instruction set): nothing below
// depends on where malloc put the operands, and the threaded paths split the work in
// pieces that do not depend on the number of threads.

namespace lemma {
namespace LEMMA_KERNEL_NS {
namespace {

using Eigen::MatrixXd;
typedef Eigen::Map<MatrixXd> MapM;

// Eigen's unblocked LLT (the matrix-vector products inside it) chooses which rows
// go through scalar and which through packet code from the run-time address of the
// data. With 32- or 64-byte packets and buffers allocated elsewhere with 16-byte
// alignment, the rounding of the factor would depend on where malloc put the matrix:
// the same fit could differ in its last bits from one call to the next. So each
// diagonal block is factored on a copy aligned to kAlign bytes (the panel division,
// the trailing update and the triangular solves and products pack their operands and
// do not depend on alignment).
const std::uintptr_t kAlign = 64;

// Lower Cholesky factor, in place, of the kb x kb block at `a` (leading dimension
// lda), computed on an aligned copy; false if not positive definite.
bool llt_aligned_copy(double* a, int kb, int lda) {
  const std::size_t pad = kAlign / sizeof(double);
  std::unique_ptr<double[]> buf(new double[static_cast<std::size_t>(kb) * kb + pad]);
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(buf.get());
  double* p = buf.get() + ((kAlign - addr % kAlign) % kAlign) / sizeof(double);
  Eigen::Map<MatrixXd, 0, Eigen::OuterStride<> > src(a, kb, kb, Eigen::OuterStride<>(lda));
  MapM work(p, kb, kb);
  work = src;
  Eigen::LLT<Eigen::Ref<MatrixXd> > llt(work);
  if (llt.info() != Eigen::Success) return false;
  src.triangularView<Eigen::Lower>() = work;
  return true;
}

// Panel width and the fixed partition of the work. Cholesky, with several threads:
// rows of the panel below the diagonal block in strips of kStripRows, the trailing
// triangle in at most kMaxCols column strips of equal work; one thread works on
// whole panels (one piece each), which measured faster on InstEval, and its factor
// differs from the split one in the last bits. Inverse: each panel in column strips
// of kInvStrip for any number of threads (one thread took the same time on whole
// panels). The partition does not depend on the number of threads and each strip
// is computed by one thread with the same operations, so the Cholesky factor has
// the same bits for any thread count >= 2, the inverse for any thread count.
const int kPanel = 128, kStripRows = 256, kMaxCols = 4, kInvStrip = 64;

// Right-looking blocked Cholesky on `threads` OpenMP threads (below 256 rows one
// diagonal block).
bool cholesky(double* a, int n, int threads) {
  MapM A(a, n, n);
  if (n < 256) return llt_aligned_copy(a, n, n);
  // Factor a diagonal block, divide the panel below it, update the trailing lower
  // triangle.
  for (int k = 0; k < n; k += kPanel) {
    const int kb = std::min(kPanel, n - k), m = n - k - kb;
    if (!llt_aligned_copy(a + k + static_cast<std::size_t>(k) * n, kb, n)) return false;
    Eigen::Block<MapM> a11 = A.block(k, k, kb, kb);
    if (m == 0) break;
    const MatrixXd u11 = a11.transpose().triangularView<Eigen::Upper>();
    Eigen::Block<MapM> a21 = A.block(k + kb, k, m, kb);
    const bool split = threads > 1;
    const int nrs = split ? (m + kStripRows - 1) / kStripRows : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nrs > 1)
#endif
    for (int s = 0; s < nrs; ++s) {
      const int r0 = split ? s * kStripRows : 0, r1 = split ? std::min(m, r0 + kStripRows) : m;
      Eigen::Block<Eigen::Block<MapM> > strip = a21.middleRows(r0, r1 - r0);
      u11.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(strip);
    }
    const int ncs = split ? std::max(1, std::min(kMaxCols, m / 32)) : 1;
    int cut[kMaxCols + 1];
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

// L^{-1}, in place of the lower Cholesky factor L (the strict upper triangle of each
// kPanel diagonal block set to 0, which the product of spd_inverse_lower reads), by
// block columns from the right: with the trailing part X_22 = L_22^{-1} already in
// place, X_21 = -X_22 L_21 L_11^{-1}. The product by the triangular X_22 runs at
// matrix-product speed, where a triangular solve per panel ran at about two thirds
// of it (AVX-512, n = 1,156: 7 against 11 ms). Column strips of kInvStrip for the
// triangular product and row strips of kStripRows for the product by L_11^{-1}, for
// any number of threads.
void lower_inverse_in_place(MapM& A, int n, int threads) {
  MatrixXd T, Di;
  const int nblk = (n + kPanel - 1) / kPanel;
  for (int b = nblk - 1; b >= 0; --b) {
    const int j = b * kPanel, nb = std::min(kPanel, n - j), m = n - j - nb;
    Di.setIdentity(nb, nb);
    A.block(j, j, nb, nb).triangularView<Eigen::Lower>().solveInPlace(Di);
    if (m > 0) {
      T.resize(m, nb);
      const int ns = (nb + kInvStrip - 1) / kInvStrip;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && ns > 1)
#endif
      for (int s = 0; s < ns; ++s) {
        const int c0 = s * kInvStrip, w = std::min(kInvStrip, nb - c0);
        T.middleCols(c0, w).noalias() =
            A.block(j + nb, j + nb, m, m).triangularView<Eigen::Lower>() * A.block(j + nb, j + c0, m, w);
      }
      const int nr = (m + kStripRows - 1) / kStripRows;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nr > 1)
#endif
      for (int s = 0; s < nr; ++s) {
        const int r0 = s * kStripRows, h = std::min(kStripRows, m - r0);
        A.block(j + nb + r0, j, h, nb).noalias() = -T.middleRows(r0, h) * Di.triangularView<Eigen::Lower>();
      }
    }
    A.block(j, j, nb, nb).triangularView<Eigen::Lower>() = Di;
    A.block(j, j, nb, nb).triangularView<Eigen::StrictlyUpper>().setZero();
  }
}

// (L L')^{-1} from its lower Cholesky factor on `threads` OpenMP threads: L^{-1}
// (lower_inverse_in_place, n^3/3 flops), then the lower triangle of L^{-T} L^{-1} a
// column panel at a time, with the triangular structure of L^{-1} used (n^3/6). No
// BLAS: OpenBLAS's dpotri spins its worker threads on a machine shared with other
// processes.
//
// The product in place, panel by panel from the left: panel J needs the columns of
// L^{-1} from J on. The strips of a panel read each other's columns, so they are
// computed into one panel-sized buffer and written back after all of them are done:
// no second n x n matrix. A strip starting c0 columns into the panel skips the c0
// leading rows, where its columns of L^{-1} are zero and those of the product lie
// above the diagonal.
void spd_inverse_lower(double* a, int n, int threads) {
  MapM A(a, n, n);
  lower_inverse_in_place(A, n, threads);
  MatrixXd X;
  for (int j = 0; j < n; j += kPanel) {
    const int nb = std::min(kPanel, n - j), m = n - j;
    const int ns = (nb + kInvStrip - 1) / kInvStrip;
    X.resize(m, nb);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && ns > 1)
#endif
    for (int s = 0; s < ns; ++s) {
      const int c0 = s * kInvStrip, w = std::min(kInvStrip, nb - c0), r = m - c0;
      Eigen::Block<MapM> tri = A.block(j + c0, j + c0, r, r);
      // Z(j:, J) = Li(j:, j:)' Li(j:, J); Li(j:, j:)' is upper triangular
      X.block(c0, c0, r, w).noalias() = tri.transpose().triangularView<Eigen::Upper>() * A.block(j + c0, j + c0, r, w);
    }
    for (int s = 0; s < ns; ++s) {
      const int c0 = s * kInvStrip, w = std::min(kInvStrip, nb - c0);
      A.block(j + c0, j + c0, m - c0, w) = X.block(c0, c0, m - c0, w);
    }
  }
}

void rdiv_lower_t(double* b, int nrow, int ncol, const double* l) {
  MapM B(b, nrow, ncol);
  Eigen::Map<const MatrixXd> L(l, ncol, ncol);
  L.transpose().triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(B);
}

void rank_update_lower(double* c, int n, const double* a, int k) {
  MapM C(c, n, n);
  Eigen::Map<const MatrixXd> A(a, n, k);
  C.selfadjointView<Eigen::Lower>().rankUpdate(A, -1.0);
}

}  // namespace

const DenseKernels table = {LEMMA_KERNEL_NAME, cholesky, spd_inverse_lower, rdiv_lower_t, rank_update_lower};

}  // namespace LEMMA_KERNEL_NS
}  // namespace lemma
