#include "model.h"

#include <algorithm>
#include <stdexcept>

#include "kron.h"

namespace lemma {

BlockedModel::BlockedModel(std::vector<TermData> terms, const MatrixXd& X, const VectorXd& y, int threads)
    : terms_(std::move(terms)), n_(static_cast<int>(y.size())), p_(static_cast<int>(X.cols())),
      threads_(std::max(1, threads)) {
  if (X.rows() != n_) throw std::invalid_argument("X and y differ in their number of rows");
  for (const TermData& t : terms_) {
    if (t.X.rows() != n_ || t.codes.size() != n_)
      throw std::invalid_argument("a random-effect term differs from y in its number of rows");
    if (t.codes.size() > 0 && (t.codes.minCoeff() < 0 || t.codes.maxCoeff() >= t.nlev))
      throw std::invalid_argument("a grouping code is outside the term's levels");
    if (t.has_relmat && (t.relchol.rows() != t.nlev || t.relchol.cols() != t.nlev))
      throw std::invalid_argument("a relationship factor does not match its term's levels");
    lambda_.push_back(MatrixXd::Identity(t.p(), t.p()));
  }
  build_cross_products(X, y);
  for (int t = 0; t < nterms(); ++t)
    if (terms_[t].has_relmat) apply_relmat(t);
  layout_factor();
}

namespace {

// The cross-products take seconds on large data: let Ctrl-C through every 2^15
// rows (Rcpp's InterruptedException unwinds the partly built blocks, and the export
// wrapper turns it into an R interrupt).
inline void interrupt_point(int r) {
  if ((r & 0x7FFF) == 0x7FFF) Rcpp::checkUserInterrupt();
}

}  // namespace

int BlockedModel::ntheta() const {
  int k = 0;
  for (const TermData& t : terms_) k += t.p() * (t.p() + 1) / 2;
  return k;
}

void BlockedModel::build_cross_products(const MatrixXd& X, const VectorXd& y) {
  const int T = nterms();
  A_.assign((T + 1) * (T + 2) / 2, Block());
  for (int t = 0; t < T; ++t) {
    const TermData& tm = terms_[t];
    const int pt = tm.p();
    Block d = pt == 1 ? Block::make_diagonal(tm.nlev) : Block::make_block_diagonal(tm.nlev, pt);
    for (int r = 0; r < n_; ++r) {
      interrupt_point(r);
      const int g = tm.codes[r];
      if (pt == 1) {
        d.diag[g] += tm.X(r, 0) * tm.X(r, 0);
      } else {
        d.level(g).noalias() += tm.X.row(r).transpose() * tm.X.row(r);
      }
    }
    A_[index(t, t)] = std::move(d);
    for (int j = 0; j < t; ++j) {
      const TermData& tj = terms_[j];
      const int pj = tj.p();
      if (j == 0 && !tm.has_relmat && !tj.has_relmat) {
        // Levels of the largest term meet few levels of the others: keep it sparse,
        // with whole coefficient blocks so kernels can work level by level.
        std::vector<Eigen::Triplet<double> > trip;
        trip.reserve(static_cast<size_t>(n_) * pt * pj);
        for (int r = 0; r < n_; ++r) {
          interrupt_point(r);
          for (int b = 0; b < pj; ++b)
            for (int a = 0; a < pt; ++a)
              trip.emplace_back(tm.codes[r] * pt + a, tj.codes[r] * pj + b, tm.X(r, a) * tj.X(r, b));
        }
        Block s;
        s.kind = BlockKind::Sparse;
        s.nrow = tm.q();
        s.ncol = tj.q();
        s.p = pt;
        s.pc = pj;
        s.sp.resize(s.nrow, s.ncol);
        s.sp.setFromTriplets(trip.begin(), trip.end());
        s.sp.makeCompressed();
        A_[index(t, j)] = std::move(s);
      } else {
        Block dn = Block::make_dense(tm.q(), tj.q());
        for (int r = 0; r < n_; ++r) {
          interrupt_point(r);
          dn.dense.block(tm.codes[r] * pt, tj.codes[r] * pj, pt, pj).noalias() +=
              tm.X.row(r).transpose() * tj.X.row(r);
        }
        A_[index(t, j)] = std::move(dn);
      }
    }
  }
  // The [X y] block row; observations are columns of Xy' so each is read contiguously.
  MatrixXd xyt(p_ + 1, n_);
  xyt.topRows(p_) = X.transpose();
  xyt.row(p_) = y.transpose();
  for (int j = 0; j < T; ++j) {
    const TermData& tj = terms_[j];
    const int pj = tj.p();
    Block dn = Block::make_dense(p_ + 1, tj.q());
    for (int r = 0; r < n_; ++r) {
      interrupt_point(r);
      dn.dense.middleCols(tj.codes[r] * pj, pj).noalias() += xyt.col(r) * tj.X.row(r);
    }
    A_[index(T, j)] = std::move(dn);
  }
  Block xx = Block::make_dense(p_ + 1, p_ + 1);
  xx.dense.noalias() = xyt * xyt.transpose();
  A_[index(T, T)] = std::move(xx);
}

// Only the y row of the [X y] block row and the last row and column of A(T, T)
// depend on y: O(n (p + sum of term widths)) work instead of rebuilding all blocks.
void BlockedModel::replace_response(const MatrixXd& X, const VectorXd& y) {
  if (y.size() != n_ || X.rows() != n_ || X.cols() != p_)
    throw std::invalid_argument("the new response or X does not match the model's dimensions");
  factored_ = false;  // the [X y] rows of the factor depend on y
  const int T = nterms();
  for (int j = 0; j < T; ++j) {
    const TermData& tj = terms_[j];
    const int pj = tj.p();
    MatrixXd zty = MatrixXd::Zero(1, tj.q());
    for (int r = 0; r < n_; ++r) zty.middleCols(tj.codes[r] * pj, pj).noalias() += y[r] * tj.X.row(r);
    if (tj.has_relmat) kron_right(zty, tj.relchol, pj);
    A_[index(T, j)].dense.row(p_) = zty;
  }
  MatrixXd& xy = A_[index(T, T)].dense;
  const VectorXd xty = X.transpose() * y;
  xy.block(p_, 0, 1, p_) = xty.transpose();
  xy.block(0, p_, p_, 1) = xty;
  xy(p_, p_) = y.squaredNorm();
}

// Replace term t's columns of [Z X y] by Z_t (C (x) I_p): all blocks touching t become dense.
void BlockedModel::apply_relmat(int t) {
  const TermData& tm = terms_[t];
  const int p = tm.p();
  const MatrixXd ct = tm.relchol.transpose();
  Block d = Block::make_dense(tm.q(), tm.q());
  d.dense = A_[index(t, t)].to_dense();
  kron_left(d.dense, ct, p);
  kron_right(d.dense, tm.relchol, p);
  A_[index(t, t)] = std::move(d);
  for (int i = t + 1; i <= nterms(); ++i) {
    Block& a = A_[index(i, t)];
    if (a.kind != BlockKind::Dense) throw std::logic_error("apply_relmat: expected a dense block");
    kron_right(a.dense, tm.relchol, p);
  }
  for (int j = 0; j < t; ++j) {
    Block& a = A_[index(t, j)];
    if (a.kind != BlockKind::Dense) throw std::logic_error("apply_relmat: expected a dense block");
    kron_left(a.dense, ct, p);
  }
}

namespace {

// True when every column of s has its nonzeros inside one level (p rows) of the row
// term, so that s s' is block diagonal and the diagonal block it updates never fills.
bool keeps_block_diagonal(const SpMat& s, int p) {
  for (int j = 0; j < s.outerSize(); ++j) {
    int lev = -1;
    for (SpMat::InnerIterator it(s, j); it; ++it) {
      if (lev < 0) lev = it.row() / p;
      else if (it.row() / p != lev) return false;
    }
  }
  return true;
}

Block zero_like(const Block& a) {
  Block b = a;
  switch (b.kind) {
    case BlockKind::Diagonal: b.diag.setZero(); break;
    case BlockKind::BlockDiagonal: b.bd.setZero(); break;
    case BlockKind::Sparse: b.sp.coeffs().setZero(); break;
    case BlockKind::Dense: b.dense.setZero(); break;
  }
  return b;
}

}  // namespace

void BlockedModel::layout_factor() {
  const int T = nterms();
  L_.assign(A_.size(), Block());
  for (int j = 0; j <= T; ++j) {
    for (int i = j; i <= T; ++i) {
      const Block& a = A_[index(i, j)];
      if (i != j) {
        L_[index(i, j)] = zero_like(a);
        continue;
      }
      bool stays = a.kind != BlockKind::Dense && i < T;
      if (stays && i >= 2) stays = false;  // dense blocks L(i, 1) fill it in
      if (stays && i == 1) {
        const Block& s = A_[index(1, 0)];
        stays = s.kind == BlockKind::Sparse && keeps_block_diagonal(s.sp, terms_[1].p());
      }
      L_[index(i, i)] = stays ? zero_like(a) : Block::make_dense(size(i), size(i));
    }
  }
}

void BlockedModel::update(const VectorXd& theta) {
  if (theta.size() != ntheta()) throw std::invalid_argument("theta has the wrong length");
  if (factored_ && theta.size() == factored_theta_.size() && (theta.array() == factored_theta_.array()).all()) return;
  factored_ = false;  // until the factorization below completes
  int k = 0;
  for (int t = 0; t < nterms(); ++t) {
    MatrixXd& lam = lambda_[t];
    const int p = lam.rows();
    lam.setZero();
    for (int c = 0; c < p; ++c)
      for (int r = c; r < p; ++r) lam(r, c) = theta[k++];
  }
  const int T = nterms();
  for (int j = 0; j <= T; ++j) {
    Block& ljj = L_[index(j, j)];
    scale_inflate(ljj, A_[index(j, j)], lambda_ptr(j), lambda_ptr(j), j < T);
    for (int k2 = 0; k2 < j; ++k2) rank_update(ljj, L_[index(j, k2)], L_[index(j, k2)], true);
    cholesky(ljj, j < T ? "a random-effects block of the penalized cross-product"
                        : "the fixed-effects cross-product (is the response fitted exactly?)",
             threads_);
    for (int i = j + 1; i <= T; ++i) {
      Block& lij = L_[index(i, j)];
      scale_inflate(lij, A_[index(i, j)], lambda_ptr(i), lambda_ptr(j), false);
      for (int k2 = 0; k2 < j; ++k2) rank_update(lij, L_[index(i, k2)], L_[index(j, k2)], false);
      rdiv_lower_t(lij, ljj);
    }
  }
  factored_theta_ = theta;
  factored_ = true;
}

double BlockedModel::ldL2() const {
  double s = 0;
  for (int t = 0; t < nterms(); ++t) s += logdet2(L_[index(t, t)]);
  return s;
}

double BlockedModel::ldRX2() const {
  const MatrixXd& lx = L_[index(nterms(), nterms())].dense;
  return 2.0 * lx.diagonal().head(p_).array().log().sum();
}

double BlockedModel::pwrss() const {
  const MatrixXd& lx = L_[index(nterms(), nterms())].dense;
  return lx(p_, p_) * lx(p_, p_);
}

double BlockedModel::objective(bool reml) const {
  const double two_pi = 6.283185307179586476925286766559;
  const double nmp = reml ? n_ - p_ : n_;
  double dev = ldL2() + nmp * (1.0 + std::log(two_pi * pwrss() / nmp));
  if (reml) dev += ldRX2();
  return dev;
}

MatrixXd BlockedModel::rx() const {
  return L_[index(nterms(), nterms())].dense.topLeftCorner(p_, p_).triangularView<Eigen::Lower>();
}

VectorXd BlockedModel::beta() const {
  const MatrixXd& lx = L_[index(nterms(), nterms())].dense;
  VectorXd beta = lx.row(p_).head(p_).transpose();
  lx.topLeftCorner(p_, p_).transpose().triangularView<Eigen::Upper>().solveInPlace(beta);
  return beta;
}

std::vector<VectorXd> BlockedModel::u() const {
  const int T = nterms();
  const MatrixXd beta_m = beta();
  std::vector<MatrixXd> u(T);
  for (int j = T - 1; j >= 0; --j) {
    const MatrixXd& lxj = L_[index(T, j)].dense;
    MatrixXd rhs = lxj.row(p_).transpose();
    rhs.noalias() -= lxj.topRows(p_).transpose() * beta_m;
    for (int i = j + 1; i < T; ++i) mult_sub(L_[index(i, j)], u[i], rhs, true);
    solve_lower(L_[index(j, j)], rhs, true);
    u[j] = rhs;
  }
  std::vector<VectorXd> out;
  for (const MatrixXd& m : u) out.push_back(m.col(0));
  return out;
}

std::vector<VectorXd> BlockedModel::b(const std::vector<VectorXd>& u) const {
  std::vector<VectorXd> out;
  for (int t = 0; t < nterms(); ++t) {
    const int p = terms_[t].p();
    MatrixXd bt = u[t];
    for (int k = 0; k < terms_[t].nlev; ++k) bt.middleRows(k * p, p) = lambda_[t] * bt.middleRows(k * p, p);
    if (terms_[t].has_relmat) kron_left(bt, terms_[t].relchol, p);
    out.push_back(bt.col(0));
  }
  return out;
}

void BlockedModel::forward_solve(std::vector<MatrixXd>& Y, int first) const {
  for (int i = first; i < nterms(); ++i) {
    for (int k = first; k < i; ++k) mult_sub(L_[index(i, k)], Y[k], Y[i], false);  // -sum L_ik Y_k
    solve_lower(L_[index(i, i)], Y[i], false);
  }
}

MatrixXd BlockedModel::condvar(int t) const {
  const int T = nterms();
  const TermData& tm = terms_[t];
  const int p = tm.p(), q = tm.q(), nlev = tm.nlev;
  // Columns of L^{-1} E_t (E_t: the identity's columns of term t) by block forward
  // substitution, a chunk of levels at a time to bound memory; a relationship matrix
  // mixes levels, so then all columns are needed at once.
  // About 256 columns per chunk keeps the working set in cache; the flop count does
  // not depend on the chunk size.
  int chunk = tm.has_relmat ? nlev : std::max(1, std::min(nlev, 256 / p));
  MatrixXd out(p, q);
  const Block& ltt = L_[index(t, t)];
  if (t == T - 1 && !tm.has_relmat && ltt.kind != BlockKind::Dense) {
    // No later term: each level's block of (L L')^{-1} is (L_k L_k')^{-1}.
    for (int k = 0; k < nlev; ++k) {
      MatrixXd lk = ltt.kind == BlockKind::Diagonal ? MatrixXd::Constant(1, 1, ltt.diag[k]) : MatrixXd(ltt.level(k));
      MatrixXd li = lk.triangularView<Eigen::Lower>().solve(MatrixXd::Identity(p, p));
      out.middleCols(k * p, p) = lambda_[t] * (li.transpose() * li) * lambda_[t].transpose();
    }
    return out;
  }
  MatrixXd full;
  if (tm.has_relmat) full = MatrixXd::Zero(q, q);
  for (int lev0 = 0; lev0 < nlev; lev0 += chunk) {
    const int m = std::min(chunk, nlev - lev0) * p;
    std::vector<MatrixXd> M(T);
    for (int i = t; i < T; ++i) M[i] = MatrixXd::Zero(size(i), m);
    M[t].middleRows(lev0 * p, m).setIdentity();
    forward_solve(M, t);
    if (tm.has_relmat) {
      for (int i = t; i < T; ++i) full.noalias() += M[i].transpose() * M[i];
    } else {
      for (int c = 0; c < m; c += p) {
        MatrixXd v = MatrixXd::Zero(p, p);
        for (int i = t; i < T; ++i) v.noalias() += M[i].middleCols(c, p).transpose() * M[i].middleCols(c, p);
        out.middleCols(lev0 * p + c, p) = lambda_[t] * v * lambda_[t].transpose();
      }
    }
  }
  if (tm.has_relmat) {
    // Var(b) / s^2 = (C (x) lambda) V (C (x) lambda)'; keep the diagonal blocks.
    for (int k = 0; k < nlev; ++k) {
      full.middleRows(k * p, p) = lambda_[t] * full.middleRows(k * p, p);
    }
    for (int k = 0; k < nlev; ++k) {
      full.middleCols(k * p, p) = full.middleCols(k * p, p) * lambda_[t].transpose();
    }
    kron_left(full, tm.relchol, p);
    kron_right(full, tm.relchol.transpose(), p);
    for (int k = 0; k < nlev; ++k) out.middleCols(k * p, p) = full.block(k * p, k * p, p, p);
  }
  return out;
}

MatrixXd BlockedModel::dense_factor() const {
  const int T = nterms();
  std::vector<int> off(T + 2, 0);
  for (int i = 0; i <= T; ++i) off[i + 1] = off[i] + size(i);
  MatrixXd out = MatrixXd::Zero(off[T + 1], off[T + 1]);
  for (int j = 0; j <= T; ++j)
    for (int i = j; i <= T; ++i) {
      MatrixXd d = L_[index(i, j)].to_dense();
      if (i == j) d = d.triangularView<Eigen::Lower>();
      out.block(off[i], off[j], size(i), size(j)) = d;
    }
  return out;
}

std::vector<int> BlockedModel::block_kinds() const {
  std::vector<int> out;
  for (const Block& b : L_) out.push_back(static_cast<int>(b.kind));
  return out;
}

}  // namespace lemma
