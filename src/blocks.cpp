#include "blocks.h"
#include "dense_simd.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace lemma {

Block Block::make_diagonal(int n) {
  Block b;
  b.kind = BlockKind::Diagonal;
  b.nrow = b.ncol = n;
  b.diag = VectorXd::Zero(n);
  return b;
}

Block Block::make_block_diagonal(int nlev, int p) {
  Block b;
  b.kind = BlockKind::BlockDiagonal;
  b.nrow = b.ncol = nlev * p;
  b.p = b.pc = p;
  b.bd = MatrixXd::Zero(p, nlev * p);
  return b;
}

Block Block::make_dense(int nrow, int ncol) {
  Block b;
  b.kind = BlockKind::Dense;
  b.nrow = nrow;
  b.ncol = ncol;
  b.dense = MatrixXd::Zero(nrow, ncol);
  return b;
}

MatrixXd Block::to_dense() const {
  switch (kind) {
    case BlockKind::Diagonal:
      return MatrixXd(diag.asDiagonal());
    case BlockKind::BlockDiagonal: {
      MatrixXd out = MatrixXd::Zero(nrow, ncol);
      for (int k = 0; k < nrow / p; ++k) out.block(k * p, k * p, p, p) = level(k);
      return out;
    }
    case BlockKind::Sparse:
      return MatrixXd(sp);
    case BlockKind::Dense:
      return dense;
  }
  return MatrixXd();
}

namespace {

// The values of the columns of one column level of a Sparse block. Every column of
// a level has the same row pattern (whole coefficient blocks), so the values form a
// contiguous nnz x pc column-major matrix.
Eigen::Map<MatrixXd> sparse_level(SpMat& s, int lev, int pc) {
  const int* outer = s.outerIndexPtr();
  int start = outer[lev * pc];
  int m = outer[lev * pc + 1] - start;
  return Eigen::Map<MatrixXd>(s.valuePtr() + start, m, pc);
}

Eigen::Map<const MatrixXd> sparse_level(const SpMat& s, int lev, int pc) {
  const int* outer = s.outerIndexPtr();
  int start = outer[lev * pc];
  int m = outer[lev * pc + 1] - start;
  return Eigen::Map<const MatrixXd>(s.valuePtr() + start, m, pc);
}

// In-place lower Cholesky of the p x p column-major matrix at a (leading dimension
// lda), lower triangle only, without the setup cost of Eigen's LLT: the diagonal
// blocks of a many-level term are tiny and there are thousands of them per
// evaluation. False if not positive definite.
bool small_cholesky(double* a, int lda, int p) {
  for (int j = 0; j < p; ++j) {
    double d = a[j + j * lda];
    for (int k = 0; k < j; ++k) d -= a[j + k * lda] * a[j + k * lda];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j + j * lda] = d;
    for (int i = j + 1; i < p; ++i) {
      double v = a[i + j * lda];
      for (int k = 0; k < j; ++k) v -= a[i + k * lda] * a[j + k * lda];
      a[i + j * lda] = v / d;
    }
  }
  return true;
}

// Dense M = Lambda_r' M Lambda_c in place, Lambda = I (x) lambda; null = identity.
void scale_dense(MatrixXd& M, const MatrixXd* lr, const MatrixXd* lc) {
  if (lc) {
    const int p = lc->rows();
    if (p == 1) {
      M *= (*lc)(0, 0);
    } else {
      // Through a buffer allocated once: the product would alias its operand.
      MatrixXd tmp(M.rows(), p);
      for (int k = 0; k < M.cols() / p; ++k) {
        tmp.noalias() = M.middleCols(k * p, p) * (*lc);
        M.middleCols(k * p, p) = tmp;
      }
    }
  }
  if (lr) {
    const int p = lr->rows();
    if (p == 1) {
      M *= (*lr)(0, 0);
    } else {
      MatrixXd lrt = lr->transpose();
      for (int k = 0; k < M.rows() / p; ++k) M.middleRows(k * p, p) = lrt * M.middleRows(k * p, p);
    }
  }
}

}  // namespace

void scale_inflate(Block& L, const Block& A, const MatrixXd* lr, const MatrixXd* lc,
                   bool inflate) {
  const double one = inflate ? 1.0 : 0.0;
  switch (A.kind) {
    case BlockKind::Diagonal: {
      const double s = (lr ? (*lr)(0, 0) : 1.0) * (lc ? (*lc)(0, 0) : 1.0);
      if (L.kind == BlockKind::Diagonal) {
        L.diag = (s * A.diag).array() + one;
      } else if (L.kind == BlockKind::Dense) {
        L.dense.setZero();
        L.dense.diagonal() = (s * A.diag).array() + one;
      } else {
        throw std::logic_error("scale_inflate: diagonal A into an unsupported kind");
      }
      return;
    }
    case BlockKind::BlockDiagonal: {
      const int p = A.p, nlev = A.nrow / A.p;
      const MatrixXd lrt = lr->transpose();
      MatrixXd tmp(p, p);  // one buffer: no allocation per level
      if (L.kind == BlockKind::BlockDiagonal) {
        for (int k = 0; k < nlev; ++k) {
          tmp.noalias() = A.level(k) * (*lc);
          L.level(k).noalias() = lrt * tmp;
          L.level(k).diagonal().array() += one;
        }
      } else if (L.kind == BlockKind::Dense) {
        L.dense.setZero();
        for (int k = 0; k < nlev; ++k) {
          tmp.noalias() = A.level(k) * (*lc);
          L.dense.block(k * p, k * p, p, p).noalias() = lrt * tmp;
          L.dense.block(k * p, k * p, p, p).diagonal().array() += one;
        }
      } else {
        throw std::logic_error("scale_inflate: block-diagonal A into an unsupported kind");
      }
      return;
    }
    case BlockKind::Sparse: {
      if (L.kind != BlockKind::Sparse) throw std::logic_error("scale_inflate: sparse A needs sparse L");
      const int pr = A.p, pc = A.pc, ncl = A.ncol / pc;
      if (pr == 1 && pc == 1) {
        const double s = (lr ? (*lr)(0, 0) : 1.0) * (lc ? (*lc)(0, 0) : 1.0);
        Eigen::Map<VectorXd>(L.sp.valuePtr(), L.sp.nonZeros()) =
            s * Eigen::Map<const VectorXd>(A.sp.valuePtr(), A.sp.nonZeros());
        return;
      }
      const MatrixXd lrt = lr ? MatrixXd(lr->transpose()) : MatrixXd::Identity(pr, pr);
      const MatrixXd lcm = lc ? *lc : MatrixXd::Identity(pc, pc);
      for (int k = 0; k < ncl; ++k) {
        Eigen::Map<const MatrixXd> a = sparse_level(A.sp, k, pc);
        Eigen::Map<MatrixXd> l = sparse_level(L.sp, k, pc);
        for (int m = 0; m < a.rows() / pr; ++m)
          l.middleRows(m * pr, pr) = lrt * a.middleRows(m * pr, pr) * lcm;
      }
      return;
    }
    case BlockKind::Dense: {
      if (L.kind != BlockKind::Dense) throw std::logic_error("scale_inflate: dense A needs dense L");
      L.dense = A.dense;
      scale_dense(L.dense, lr, lc);
      if (inflate) L.dense.diagonal().array() += 1.0;
      return;
    }
  }
}

void rank_update(Block& C, const Block& A, const Block& B, bool diagonal_target) {
  if (C.kind == BlockKind::Diagonal || C.kind == BlockKind::BlockDiagonal) {
    // Only reached when the pattern of A keeps C (block) diagonal: every column of A
    // has its nonzeros inside one level of C's term (checked when blocks are laid out).
    if (A.kind != BlockKind::Sparse || !diagonal_target)
      throw std::logic_error("rank_update: (block) diagonal target needs a sparse source");
    const int p = C.p;
    for (int j = 0; j < A.sp.outerSize(); ++j) {
      for (SpMat::InnerIterator it(A.sp, j); it; ++it) {
        for (SpMat::InnerIterator jt(A.sp, j); jt; ++jt) {
          if (C.kind == BlockKind::Diagonal) {
            if (it.row() == jt.row()) C.diag[it.row()] -= it.value() * jt.value();
          } else {
            int lev = it.row() / p;
            C.bd(it.row() % p, lev * p + jt.row() % p) -= it.value() * jt.value();
          }
        }
      }
    }
    return;
  }
  if (C.kind != BlockKind::Dense) throw std::logic_error("rank_update: sparse target");
  MatrixXd& c = C.dense;
  if (A.kind == BlockKind::Sparse && B.kind == BlockKind::Sparse) {
    // Column by column of A and B, one column of C at a time (B's rows) so that the
    // scattered updates walk down a column of C in memory order; C's entries receive
    // their updates in the same order as a row-wise walk would, so the bits do not
    // depend on this choice. A diagonal target has A and B the same block: the rows
    // at or below C's column start at that column's own position.
    const int* ao = A.sp.outerIndexPtr();
    const int* ai = A.sp.innerIndexPtr();
    const double* av = A.sp.valuePtr();
    const int* bo = B.sp.outerIndexPtr();
    const int* bi = B.sp.innerIndexPtr();
    const double* bv = B.sp.valuePtr();
    const bool same = diagonal_target && &A == &B;
    const Eigen::Index ldc = c.rows();
    for (int j = 0; j < A.sp.outerSize(); ++j) {
      const int a1 = ao[j + 1];
      for (int bb = bo[j]; bb < bo[j + 1]; ++bb) {
        const int col = bi[bb];
        const double v = bv[bb];
        double* cc = c.data() + col * ldc;
        if (same) {
          for (int aa = ao[j] + (bb - bo[j]); aa < a1; ++aa) cc[ai[aa]] -= av[aa] * v;
        } else {
          for (int aa = ao[j]; aa < a1; ++aa)
            if (!diagonal_target || ai[aa] >= col) cc[ai[aa]] -= av[aa] * v;
        }
      }
    }
  } else if (A.kind == BlockKind::Dense && B.kind == BlockKind::Sparse) {
    c.noalias() -= A.dense * B.sp.transpose();
  } else if (A.kind == BlockKind::Sparse && B.kind == BlockKind::Dense) {
    c.noalias() -= A.sp * B.dense.transpose();
  } else if (A.kind == BlockKind::Dense && B.kind == BlockKind::Dense) {
    if (diagonal_target && C.nrow >= 32 && simd_available()) {
      simd_rank_update_lower(c.data(), C.nrow, A.dense.data(), A.ncol);
    } else if (diagonal_target) {
      c.selfadjointView<Eigen::Lower>().rankUpdate(A.dense, -1.0);
    } else {
      c.noalias() -= A.dense * B.dense.transpose();
    }
  } else {
    throw std::logic_error("rank_update: unsupported block kinds");
  }
}

void cholesky(Block& L, const char* what, int threads) {
  switch (L.kind) {
    case BlockKind::Diagonal:
      for (int i = 0; i < L.diag.size(); ++i) {
        if (!(L.diag[i] > 0)) throw std::runtime_error(std::string(what) + " is not positive definite");
        L.diag[i] = std::sqrt(L.diag[i]);
      }
      return;
    case BlockKind::BlockDiagonal:
      for (int k = 0; k < L.nrow / L.p; ++k) {
        Eigen::Block<MatrixXd> b = L.level(k);
        if (!small_cholesky(b.data(), static_cast<int>(L.bd.rows()), L.p))
          throw std::runtime_error(std::string(what) + " is not positive definite");
        b.triangularView<Eigen::StrictlyUpper>().setZero();
      }
      return;
    case BlockKind::Dense: {
      if (L.nrow >= 32 && simd_available()) {
        if (!simd_cholesky(L.dense.data(), L.nrow, threads))
          throw std::runtime_error(std::string(what) + " is not positive definite");
        return;
      }
      Eigen::LLT<Eigen::Ref<MatrixXd> > llt(L.dense);
      if (llt.info() != Eigen::Success)
        throw std::runtime_error(std::string(what) + " is not positive definite");
      return;
    }
    case BlockKind::Sparse:
      throw std::logic_error("cholesky: sparse diagonal block");
  }
}

void rdiv_lower_t(Block& B, const Block& L) {
  switch (L.kind) {
    case BlockKind::Diagonal:
      if (B.kind == BlockKind::Sparse) {
        for (int j = 0; j < B.sp.outerSize(); ++j)
          for (SpMat::InnerIterator it(B.sp, j); it; ++it) it.valueRef() /= L.diag[j];
      } else {
        B.dense.array().rowwise() /= L.diag.transpose().array();
      }
      return;
    case BlockKind::BlockDiagonal: {
      const int p = L.p;
      for (int k = 0; k < L.nrow / p; ++k) {
        const auto Lkt = L.level(k).transpose();
        if (B.kind == BlockKind::Sparse) {
          Eigen::Map<MatrixXd> v = sparse_level(B.sp, k, p);
          Lkt.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(v);
        } else {
          auto v = B.dense.middleCols(k * p, p);
          Lkt.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(v);
        }
      }
      return;
    }
    case BlockKind::Dense:
      if (B.kind != BlockKind::Dense) throw std::logic_error("rdiv_lower_t: sparse B with dense L");
      if (L.nrow >= 32 && simd_available()) {
        simd_rdiv_lower_t(B.dense.data(), B.nrow, B.ncol, L.dense.data());
        return;
      }
      L.dense.transpose().triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(B.dense);
      return;
    case BlockKind::Sparse:
      throw std::logic_error("rdiv_lower_t: sparse L");
  }
}

void solve_lower(const Block& L, MatrixXd& x, bool transpose) {
  switch (L.kind) {
    case BlockKind::Diagonal:
      x.array().colwise() /= L.diag.array();
      return;
    case BlockKind::BlockDiagonal: {
      const int p = L.p;
      for (int k = 0; k < L.nrow / p; ++k) {
        const auto Lk = L.level(k);
        Eigen::Block<MatrixXd> xk = x.middleRows(k * p, p);
        if (transpose) {
          Lk.transpose().triangularView<Eigen::Upper>().solveInPlace(xk);
        } else {
          Lk.triangularView<Eigen::Lower>().solveInPlace(xk);
        }
      }
      return;
    }
    case BlockKind::Dense:
      if (transpose) {
        L.dense.transpose().triangularView<Eigen::Upper>().solveInPlace(x);
      } else {
        L.dense.triangularView<Eigen::Lower>().solveInPlace(x);
      }
      return;
    case BlockKind::Sparse:
      throw std::logic_error("solve_lower: sparse L");
  }
}

void mult_sub(const Block& B, const MatrixXd& x, MatrixXd& y, bool transpose) {
  switch (B.kind) {
    case BlockKind::Sparse:
      if (transpose) y.noalias() -= B.sp.transpose() * x; else y.noalias() -= B.sp * x;
      return;
    case BlockKind::Dense:
      if (transpose) y.noalias() -= B.dense.transpose() * x; else y.noalias() -= B.dense * x;
      return;
    default:
      throw std::logic_error("mult_sub: off-diagonal blocks are sparse or dense");
  }
}

double logdet2(const Block& L) {
  double s = 0;
  switch (L.kind) {
    case BlockKind::Diagonal:
      s = L.diag.array().log().sum();
      break;
    case BlockKind::BlockDiagonal:
      for (int k = 0; k < L.nrow / L.p; ++k) s += L.level(k).diagonal().array().log().sum();
      break;
    case BlockKind::Dense:
      s = L.dense.diagonal().array().log().sum();
      break;
    case BlockKind::Sparse:
      throw std::logic_error("logdet2: sparse L");
  }
  return 2.0 * s;
}

}  // namespace lemma
