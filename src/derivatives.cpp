// Exact derivatives for small-sample inference; see derivatives.h.
#ifndef USE_FC_LEN_T
#define USE_FC_LEN_T
#endif
#include "derivatives.h"
#include "dense_simd.h"

#include <R_ext/Lapack.h>
#ifndef FCONE
#define FCONE
#endif

#include <algorithm>
#include <stdexcept>

namespace lemma {

void mult_add(const Block& B, const MatrixXd& x, MatrixXd& y, bool transpose) {
  switch (B.kind) {
    case BlockKind::Diagonal:
      y.noalias() += B.diag.asDiagonal() * x;
      return;
    case BlockKind::BlockDiagonal: {
      const int p = B.p;
      for (int k = 0; k < B.nrow / p; ++k) {
        if (transpose) y.middleRows(k * p, p).noalias() += B.level(k).transpose() * x.middleRows(k * p, p);
        else y.middleRows(k * p, p).noalias() += B.level(k) * x.middleRows(k * p, p);
      }
      return;
    }
    case BlockKind::Sparse:
      if (transpose) y.noalias() += B.sp.transpose() * x; else y.noalias() += B.sp * x;
      return;
    case BlockKind::Dense:
      if (transpose) y.noalias() += B.dense.transpose() * x; else y.noalias() += B.dense * x;
      return;
  }
}

namespace {

// rows of term t's block: x = (I_levels (x) lambda_t) x, or with lambda_t' when transpose.
void lambda_mult(const BlockedModel& m, int t, MatrixXd& x, bool transpose) {
  const MatrixXd& lam = m.lambda(t);
  const int p = lam.rows();
  const int nlev = m.term(t).nlev;
  if (p == 1) {
    x *= lam(0, 0);
    return;
  }
  MatrixXd r(p, x.cols());  // one buffer: no allocation per level
  for (int k = 0; k < nlev; ++k) {
    r = x.middleRows(k * p, p);
    if (transpose) x.middleRows(k * p, p).noalias() = lam.transpose() * r;
    else x.middleRows(k * p, p).noalias() = lam * r;
  }
}

// (A_ZZ v) restricted to block row i: sum_j A(i, j) v_j with the stored lower blocks.
void azz_row_mult(const BlockedModel& m, int i, const std::vector<MatrixXd>& v, MatrixXd& out) {
  const int T = m.nterms();
  for (int j = 0; j < T; ++j) {
    if (j <= i) mult_add(m.A(i, j), v[j], out, false);
    else mult_add(m.A(j, i), v[j], out, true);
  }
}

// The selected inverse applies when term 0's diagonal block is (block) diagonal, its
// column blocks below are sparse (no relationship matrix), and every lambda is
// invertible (the trace formula divides by it).
bool selected_inverse_applies(const BlockedModel& m) {
  const int T = m.nterms();
  if (T < 2) return false;
  const BlockKind k0 = m.L(0, 0).kind;
  if (k0 != BlockKind::Diagonal && k0 != BlockKind::BlockDiagonal) return false;
  for (int i = 1; i < T; ++i)
    if (m.L(i, 0).kind != BlockKind::Sparse) return false;
  for (int t = 0; t < T; ++t)
    if (m.lambda(t).diagonal().cwiseAbs().minCoeff() < 1e-4) return false;
  return true;
}

// The rows (in the trailing matrix, ascending) and values of level l's p0 columns of
// the factor below term 0; S is row-major, p0 values per row.
void gather_level_rows(const BlockedModel& m, const std::vector<int>& off, int l, int p0,
                       std::vector<int>& rows, std::vector<double>& S) {
  const int T = m.nterms();
  rows.clear();
  for (int i = 1; i < T; ++i) {
    const SpMat& sp = m.L(i, 0).sp;
    for (SpMat::InnerIterator it(sp, l * p0); it; ++it) rows.push_back(off[i] + it.row());
  }
  const std::size_t nr = rows.size();
  S.assign(nr * p0, 0.0);
  for (int c = 0; c < p0; ++c) {
    std::size_t r = 0;
    for (int i = 1; i < T; ++i)
      for (SpMat::InnerIterator it(m.L(i, 0).sp, l * p0 + c); it; ++it) S[(r++) * p0 + c] = it.value();
    if (r != nr) throw std::logic_error("selected inverse: the columns of a level differ in pattern");
  }
}

// G = S' Z[rows, rows] S (p0 x p0), from the lower triangle of the n x n matrix z only:
// rows ascend, so z(rows[a], rows[b]) with a > b is stored and a column of z is read
// downwards. This loop reads scattered entries of a matrix larger than the cache, so it
// is written on raw arrays (a quarter of the time of the Eigen element access).
void level_quadratic(const double* z, int n, const std::vector<int>& rows, const std::vector<double>& S,
                     int p0, std::vector<double>& ZS, MatrixXd& G) {
  const int nr = static_cast<int>(rows.size());
  if (p0 == 1) {
    double g = 0;
    for (int b = 0; b < nr; ++b) {
      const double* zc = z + static_cast<std::ptrdiff_t>(rows[b]) * n;
      double t = 0;
      for (int a = b + 1; a < nr; ++a) t += zc[rows[a]] * S[a];
      g += S[b] * (zc[rows[b]] * S[b] + 2.0 * t);
    }
    G(0, 0) = g;
    return;
  }
  ZS.assign(static_cast<std::size_t>(nr) * p0, 0.0);
  for (int b = 0; b < nr; ++b) {
    const double* zc = z + static_cast<std::ptrdiff_t>(rows[b]) * n;
    const double* sb = &S[static_cast<std::size_t>(b) * p0];
    double* zsb = &ZS[static_cast<std::size_t>(b) * p0];
    const double zbb = zc[rows[b]];
    for (int c = 0; c < p0; ++c) zsb[c] += zbb * sb[c];
    for (int a = b + 1; a < nr; ++a) {
      const double zab = zc[rows[a]];
      const double* sa = &S[static_cast<std::size_t>(a) * p0];
      double* zsa = &ZS[static_cast<std::size_t>(a) * p0];
      for (int c = 0; c < p0; ++c) {
        zsa[c] += zab * sb[c];
        zsb[c] += zab * sa[c];
      }
    }
  }
  G.setZero();
  for (int a = 0; a < nr; ++a)
    for (int c = 0; c < p0; ++c)
      for (int r = 0; r < p0; ++r) G(r, c) += S[static_cast<std::size_t>(a) * p0 + r] * ZS[static_cast<std::size_t>(a) * p0 + c];
}

// Sums over levels of the diagonal blocks of M^{-1}, one p_t x p_t matrix per term,
// by the selected inverse (Takahashi's recurrence) instead of forward solves for
// every column of M. With D the factor of the trailing terms 1..T-1 (one dense
// matrix), M^{-1} restricted to them is (D D')^{-1}, formed by the SIMD kernel
// (LAPACK's dpotri without SIMD) on the model's threads, in 3/2 of a Cholesky's flops; term 0's block is then
// L_l^{-T} (I + S_l' (D D')^{-1} S_l) L_l^{-1}, with S_l the few nonzero rows of
// the level's columns of the factor below it, so that only the entries of the
// inverse at pairs of those rows are read.
std::vector<MatrixXd> level_block_sums_selected(const BlockedModel& m) {
  const int T = m.nterms();
  std::vector<int> off(T + 1, 0);
  for (int i = 1; i < T; ++i) off[i + 1] = off[i] + m.block_size(i);
  const int n = off[T];
  MatrixXd Z = MatrixXd::Zero(n, n);
  for (int j = 1; j < T; ++j)
    for (int i = j; i < T; ++i) {
      const Block& b = m.L(i, j);
      auto dst = Z.block(off[i], off[j], b.nrow, b.ncol);
      if (b.kind == BlockKind::Dense) {
        if (i == j) dst.triangularView<Eigen::Lower>() = b.dense;
        else dst = b.dense;
      } else {
        MatrixXd d = b.to_dense();
        if (i == j) dst.triangularView<Eigen::Lower>() = d;
        else dst = d;
      }
    }
  if (n > 0 && simd_available()) {
    simd_spd_inverse_lower(Z.data(), n, m.threads());
  } else if (n > 0) {
    int info = 0;
    F77_CALL(dpotri)("L", &n, Z.data(), &n, &info FCONE);
    if (info != 0) throw std::runtime_error("the selected inverse of the penalized cross-product failed (dpotri)");
  }
  auto z = [&Z](int i, int j) { return i >= j ? Z(i, j) : Z(j, i); };
  std::vector<MatrixXd> V(T);
  for (int t = 1; t < T; ++t) {
    const int p = m.term(t).p();
    V[t] = MatrixXd::Zero(p, p);
    for (int k = 0; k < m.term(t).nlev; ++k)
      for (int c = 0; c < p; ++c)
        for (int r = 0; r < p; ++r) V[t](r, c) += z(off[t] + k * p + r, off[t] + k * p + c);
  }
  const Block& L0 = m.L(0, 0);
  const int p0 = m.term(0).p(), nlev0 = m.term(0).nlev;
  V[0] = MatrixXd::Zero(p0, p0);
  std::vector<int> rows;
  std::vector<double> S, ZS;  // a level's nonzero rows x p0, row-major (p0 values per row)
  MatrixXd G(p0, p0), Ll(p0, p0);
  for (int l = 0; l < nlev0; ++l) {
    gather_level_rows(m, off, l, p0, rows, S);
    level_quadratic(Z.data(), n, rows, S, p0, ZS, G);
    G.diagonal().array() += 1.0;
    if (L0.kind == BlockKind::Diagonal) {
      V[0](0, 0) += G(0, 0) / (L0.diag[l] * L0.diag[l]);
    } else {
      // L_l^{-T} G L_l^{-1}
      Ll = L0.level(l).triangularView<Eigen::Lower>();
      Ll.triangularView<Eigen::Lower>().transpose().solveInPlace(G);
      G.transposeInPlace();
      Ll.triangularView<Eigen::Lower>().transpose().solveInPlace(G);
      V[0] += G;
    }
    if ((l & 0x3FF) == 0x3FF) Rcpp::checkUserInterrupt();
  }
  return V;
}

}  // namespace

MatrixXd vinv_xy(const BlockedModel& m) {
  const int T = m.nterms();
  const int p1 = m.nfixed() + 1;
  std::vector<MatrixXd> x(T);
  // L_XZ' = L_Z^{-1} Lambda' A_Z,Xy; backward solve gives M^{-1} Lambda' A_Z,Xy.
  for (int j = T - 1; j >= 0; --j) {
    MatrixXd rhs = m.L(T, j).dense.transpose();
    for (int i = j + 1; i < T; ++i) mult_sub(m.L(i, j), x[i], rhs, true);
    solve_lower(m.L(j, j), rhs, true);
    x[j] = rhs;
  }
  for (int j = 0; j < T; ++j) lambda_mult(m, j, x[j], false);
  int q = 0;
  for (int j = 0; j < T; ++j) q += m.block_size(j);
  MatrixXd U(q, p1);
  int off = 0;
  for (int i = 0; i < T; ++i) {
    MatrixXd ui = m.A(T, i).dense.transpose();
    MatrixXd av = MatrixXd::Zero(m.block_size(i), p1);
    azz_row_mult(m, i, x, av);
    U.middleRows(off, m.block_size(i)) = ui - av;
    off += m.block_size(i);
  }
  return U;
}

MatrixXd average_information(const BlockedModel& m, const MatrixXd& U, bool reml) {
  const int T = m.nterms(), p = m.nfixed(), k = m.ntheta();
  VectorXd bb(p + 1);
  bb.head(p) = -m.beta();
  bb[p] = 1.0;
  const VectorXd ue = U * bb;  // Z'e
  // B = [D_1 Z'e, ..., D_k Z'e] by term (Z'w_i = A_ZZ D_i Z'e), with D_i = dLambda_i
  // Lambda' + Lambda dLambda_i' applied level by level as in dQ_dtheta.
  std::vector<MatrixXd> B(T), C(T), Y(T);
  VectorXd ew = VectorXd::Zero(k);  // e'w_i = (Z'e)' D_i (Z'e)
  int off = 0, col = 0;
  for (int t = 0; t < T; ++t) {
    const MatrixXd& lam = m.lambda(t);
    const int pt = lam.rows(), nlev = m.term(t).nlev, q = m.block_size(t);
    B[t] = MatrixXd::Zero(q, k);
    for (int c = 0; c < pt; ++c)
      for (int r = c; r < pt; ++r, ++col)
        for (int l = 0; l < nlev; ++l) {
          const auto ul = ue.segment(off + l * pt, pt);
          const double lu_c = lam.col(c).dot(ul);  // (lambda' u_l)_c
          B[t](l * pt + r, col) += lu_c;
          B[t].col(col).segment(l * pt, pt) += lam.col(c) * ul[r];
          ew[col] += 2.0 * ul[r] * lu_c;
        }
    off += q;
  }
  MatrixXd S = MatrixXd::Zero(k, k);
  for (int i = 0; i < T; ++i) {
    C[i] = MatrixXd::Zero(m.block_size(i), k);
    azz_row_mult(m, i, B, C[i]);
    S.noalias() += B[i].transpose() * C[i];
  }
  // minus (Lambda' C)' M^{-1} (Lambda' C), with M = L_Z L_Z': forward solves only
  for (int i = 0; i < T; ++i) {
    Y[i] = C[i];
    lambda_mult(m, i, Y[i], true);
  }
  m.forward_solve(Y, 0);
  for (int i = 0; i < T; ++i) S.noalias() -= Y[i].transpose() * Y[i];
  if (reml && p > 0) {
    // minus (U_X' B)' (X'V^{-1}X)^{-1} (U_X' B), X'V^{-1}X = R_X R_X'
    MatrixXd W = MatrixXd::Zero(p, k);
    off = 0;
    for (int t = 0; t < T; ++t) {
      W.noalias() += U.block(off, 0, m.block_size(t), p).transpose() * B[t];
      off += m.block_size(t);
    }
    m.rx().triangularView<Eigen::Lower>().solveInPlace(W);
    S.noalias() -= W.transpose() * W;
  }
  const double nmp = reml ? m.nobs() - p : m.nobs();
  const double pw = m.pwrss();
  MatrixXd H = (nmp / pw) * S - (nmp / (pw * pw)) * ew * ew.transpose();
  return (H + H.transpose()) / 2;
}

MatrixXd dQ_dtheta(const BlockedModel& m, const MatrixXd& U) {
  const int T = m.nterms();
  const int p1 = static_cast<int>(U.cols());
  MatrixXd out(p1, p1 * m.ntheta());
  int off = 0, k = 0;
  for (int t = 0; t < T; ++t) {
    const int p = m.term(t).p(), nlev = m.term(t).nlev, q = m.block_size(t);
    MatrixXd Ut = U.middleRows(off, q);
    MatrixXd Gt = Ut;
    lambda_mult(m, t, Gt, true);  // per level lambda' U_l
    typedef Eigen::Map<const MatrixXd, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic> > RowsMap;
    for (int c = 0; c < p; ++c) {
      for (int r = c; r < p; ++r) {
        // rows r (resp. c) of every level: nlev x p1 strided views
        RowsMap Ur(Ut.data() + r, nlev, p1, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(q, p));
        RowsMap Gc(Gt.data() + c, nlev, p1, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(q, p));
        MatrixXd K = Ur.transpose() * Gc;
        out.middleCols(k * p1, p1) = -(K + K.transpose());
        ++k;
      }
    }
    off += q;
  }
  return out;
}

VectorXd dlogdetM_dtheta(const BlockedModel& m) {
  const int T = m.nterms();
  VectorXd grad = VectorXd::Zero(m.ntheta());
  // One term without a relationship matrix: M is block diagonal by level, so
  // (A Lambda M^{-1})_ll = A_ll lambda (L_l L_l')^{-1}, level by level.
  if (T == 1 && m.A(0, 0).kind != BlockKind::Dense && m.L(0, 0).kind != BlockKind::Dense) {
    const int p = m.term(0).p(), nlev = m.term(0).nlev;
    const MatrixXd& lam = m.lambda(0);
    const Block& A = m.A(0, 0);
    const Block& L = m.L(0, 0);
    MatrixXd Al(p, p), Ll(p, p), rhs(p, p);  // buffers: no allocation per level
    const MatrixXd lamt = lam.transpose();
    for (int l = 0; l < nlev; ++l) {
      if (A.kind == BlockKind::Diagonal) Al(0, 0) = A.diag[l]; else Al = A.level(l);
      if (L.kind == BlockKind::Diagonal) Ll(0, 0) = L.diag[l];
      else Ll = L.level(l).triangularView<Eigen::Lower>();
      // R = A_l lambda M_l^{-1} = ((M_l^{-1}) lambda' A_l)'  with M_l = Ll Ll'
      rhs.noalias() = lamt * Al;
      Ll.triangularView<Eigen::Lower>().solveInPlace(rhs);
      Ll.transpose().triangularView<Eigen::Upper>().solveInPlace(rhs);
      int k = 0;
      for (int c = 0; c < p; ++c)
        for (int r = c; r < p; ++r) grad[k++] += 2.0 * rhs(c, r);
    }
    return grad;
  }
  if (selected_inverse_applies(m)) {
    // d log|M| / dtheta_i = 2 [nlev (lambda^{-1})_cr - (Vsum lambda^{-1})_cr], as below.
    const std::vector<MatrixXd> V = level_block_sums_selected(m);
    int k = 0;
    for (int t = 0; t < T; ++t) {
      const int p = m.term(t).p(), nlev = m.term(t).nlev;
      const MatrixXd& lam = m.lambda(t);
      const MatrixXd li = lam.triangularView<Eigen::Lower>().solve(MatrixXd::Identity(p, p));
      const MatrixXd VL = V[t] * li;
      for (int c = 0; c < p; ++c)
        for (int r = c; r < p; ++r) grad[k++] = 2.0 * (nlev * li(c, r) - VL(c, r));
    }
    return grad;
  }
  long qtot = 0;
  for (int i = 0; i < T; ++i) qtot += m.block_size(i);
  int k0 = 0;
  for (int t = 0; t < T; ++t) {
    const TermData& tm = m.term(t);
    const int p = tm.p(), nlev = tm.nlev;
    const MatrixXd& lam = m.lambda(t);
    if (lam.diagonal().cwiseAbs().minCoeff() >= 1e-4) {
      // lambda_t invertible: with G_i = Lambda^{-1} dLambda_i = I (x) lambda^{-1} E_rc,
      // d log|M| / dtheta_i = 2 [tr(G_i) - tr(M^{-1} G_i)]
      //                    = 2 [nlev (lambda^{-1})_cr - (Vsum lambda^{-1})_cr],
      // Vsum = sum over levels of the diagonal blocks of M^{-1}: forward solves only.
      long rows_below = 0;
      for (int i = t; i < T; ++i) rows_below += m.block_size(i);
      const int chunk = static_cast<int>(std::max(1L, std::min<long>(nlev, 262144L / (rows_below * p))));
      MatrixXd Vsum = MatrixXd::Zero(p, p);
      for (int lev0 = 0; lev0 < nlev; lev0 += chunk) {
        const int nl = std::min(chunk, nlev - lev0);
        const int mc = nl * p;
        std::vector<MatrixXd> Y(T);
        for (int i = t; i < T; ++i) Y[i] = MatrixXd::Zero(m.block_size(i), mc);
        Y[t].middleRows(lev0 * p, mc).setIdentity();
        m.forward_solve(Y, t);
        for (int i = t; i < T; ++i)
          for (int l = 0; l < nl; ++l) Vsum.noalias() += Y[i].middleCols(l * p, p).transpose() * Y[i].middleCols(l * p, p);
        Rcpp::checkUserInterrupt();
      }
      const MatrixXd li = lam.triangularView<Eigen::Lower>().solve(MatrixXd::Identity(p, p));
      const MatrixXd VL = Vsum * li;
      int k = k0;
      for (int c = 0; c < p; ++c)
        for (int r = c; r < p; ++r) grad[k++] = 2.0 * (nlev * li(c, r) - VL(c, r));
      k0 += p * (p + 1) / 2;
      continue;
    }
    // chunks small enough for the dense work arrays to stay in cache
    const int chunk = static_cast<int>(std::max(1L, std::min<long>(nlev, 262144L / (qtot * p))));
    for (int lev0 = 0; lev0 < nlev; lev0 += chunk) {
      const int nl = std::min(chunk, nlev - lev0);
      const int mc = nl * p;
      std::vector<MatrixXd> Y(T);
      // forward: L Y = E (E: identity columns of this chunk of term t)
      for (int i = 0; i < T; ++i) Y[i] = MatrixXd::Zero(m.block_size(i), mc);
      Y[t].middleRows(lev0 * p, mc).setIdentity();
      m.forward_solve(Y, t);
      // backward: L' X = Y, so X = M^{-1} E
      for (int i = T - 1; i >= 0; --i) {
        for (int k = i + 1; k < T; ++k) mult_sub(m.L(k, i), Y[k], Y[i], true);
        solve_lower(m.L(i, i), Y[i], true);
      }
      for (int i = 0; i < T; ++i) lambda_mult(m, i, Y[i], false);
      MatrixXd R = MatrixXd::Zero(m.block_size(t), mc);
      azz_row_mult(m, t, Y, R);  // rows of term t of A_ZZ Lambda M^{-1} E
      for (int l = 0; l < nl; ++l) {
        const int row = (lev0 + l) * p, col = l * p;
        int k = k0;
        for (int c = 0; c < p; ++c)
          for (int r = c; r < p; ++r) grad[k++] += 2.0 * R(row + r, col + c);
      }
      Rcpp::checkUserInterrupt();
    }
    k0 += p * (p + 1) / 2;
  }
  return grad;
}

}  // namespace lemma

namespace {

lemma::BlockedModel* deriv_model_of(SEXP ptr) {
  Rcpp::XPtr<lemma::BlockedModel> xp(ptr);
  if (xp.get() == nullptr) Rcpp::stop("the model's C++ state is gone; refit or use lemma's methods");
  return xp.get();
}

// Sparse copy of a block (all stored entries; the lower triangle only for factored
// diagonal blocks when lower = true).
void block_triplets(const lemma::Block& b, int r0, int c0, bool lower,
                    std::vector<Eigen::Triplet<double> >& trip) {
  using lemma::BlockKind;
  switch (b.kind) {
    case BlockKind::Diagonal:
      for (int i = 0; i < b.nrow; ++i) trip.emplace_back(r0 + i, c0 + i, b.diag[i]);
      return;
    case BlockKind::BlockDiagonal:
      for (int k = 0; k < b.nrow / b.p; ++k)
        for (int j = 0; j < b.p; ++j)
          for (int i = lower ? j : 0; i < b.p; ++i)
            trip.emplace_back(r0 + k * b.p + i, c0 + k * b.p + j, b.bd(i, k * b.p + j));
      return;
    case BlockKind::Sparse:
      for (int j = 0; j < b.sp.outerSize(); ++j)
        for (lemma::SpMat::InnerIterator it(b.sp, j); it; ++it) trip.emplace_back(r0 + it.row(), c0 + j, it.value());
      return;
    case BlockKind::Dense:
      for (int j = 0; j < b.ncol; ++j)
        for (int i = lower ? j : 0; i < b.nrow; ++i)
          if (b.dense(i, j) != 0) trip.emplace_back(r0 + i, c0 + j, b.dense(i, j));
      return;
  }
}

}  // namespace

// Derivative pieces at theta: U = Z'V^{-1}[X y], dQ (p+1 x (p+1) ntheta), the
// gradient of log|M| and the current factor's summaries.
// [[Rcpp::export(.model_theta_derivs)]]
Rcpp::List model_theta_derivs(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta, bool logdet) {
  lemma::BlockedModel* m = deriv_model_of(ptr);
  m->update(theta);
  Eigen::MatrixXd U = lemma::vinv_xy(*m);
  Eigen::MatrixXd dQ = lemma::dQ_dtheta(*m, U);
  Rcpp::List out = Rcpp::List::create(
      Rcpp::Named("U") = U, Rcpp::Named("dQ") = dQ, Rcpp::Named("ldL2") = m->ldL2(),
      Rcpp::Named("ldRX2") = m->ldRX2(), Rcpp::Named("pwrss") = m->pwrss(),
      Rcpp::Named("beta") = m->beta(), Rcpp::Named("RX") = m->rx());
  if (logdet) out["dldL2"] = lemma::dlogdetM_dtheta(*m);
  return out;
}

// The random-effects parts of A and L, and Lambda, as sparse matrices (q x q; Z in
// the transformed coordinates where a relationship factor is absorbed), with A_Z,Xy
// dense: the pieces the Kenward-Roger computations work with.
// [[Rcpp::export(.model_sparse_parts)]]
Rcpp::List model_sparse_parts(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta) {
  lemma::BlockedModel* m = deriv_model_of(ptr);
  m->update(theta);
  const int T = m->nterms();
  std::vector<int> off(T + 1, 0);
  for (int i = 0; i < T; ++i) off[i + 1] = off[i] + m->block_size(i);
  const int q = off[T];
  std::vector<Eigen::Triplet<double> > ta, tl, tlam;
  for (int j = 0; j < T; ++j)
    for (int i = j; i < T; ++i) {
      block_triplets(m->A(i, j), off[i], off[j], false, ta);
      if (i != j) {
        // mirror to the upper triangle
        std::vector<Eigen::Triplet<double> > tmp;
        block_triplets(m->A(i, j), off[i], off[j], false, tmp);
        for (const auto& e : tmp) ta.emplace_back(e.col(), e.row(), e.value());
      }
      block_triplets(m->L(i, j), off[i], off[j], i == j, tl);
    }
  for (int t = 0; t < T; ++t) {
    const Eigen::MatrixXd& lam = m->lambda(t);
    const int p = lam.rows();
    for (int k = 0; k < m->term(t).nlev; ++k)
      for (int c = 0; c < p; ++c)
        for (int r = c; r < p; ++r)
          if (lam(r, c) != 0) tlam.emplace_back(off[t] + k * p + r, off[t] + k * p + c, lam(r, c));
  }
  lemma::SpMat A(q, q), L(q, q), Lam(q, q);
  A.setFromTriplets(ta.begin(), ta.end());
  L.setFromTriplets(tl.begin(), tl.end());
  Lam.setFromTriplets(tlam.begin(), tlam.end());
  Eigen::MatrixXd AZXy(q, m->nfixed() + 1);
  for (int i = 0; i < T; ++i) AZXy.middleRows(off[i], m->block_size(i)) = m->A(T, i).dense.transpose();
  Eigen::MatrixXd AXy = m->A(T, T).dense;
  Rcpp::IntegerVector offs(off.begin(), off.end());
  return Rcpp::List::create(Rcpp::Named("AZZ") = Rcpp::wrap(A), Rcpp::Named("L") = Rcpp::wrap(L),
                            Rcpp::Named("Lambda") = Rcpp::wrap(Lam), Rcpp::Named("AZXy") = AZXy,
                            Rcpp::Named("AXy") = AXy, Rcpp::Named("offsets") = offs,
                            Rcpp::Named("RX") = m->rx(), Rcpp::Named("pwrss") = m->pwrss());
}

// log|M|^2, pwrss and log|R_X|^2 at theta (for non-profiled deviances in R).
// [[Rcpp::export(.model_dev_parts)]]
Rcpp::NumericVector model_dev_parts(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta) {
  lemma::BlockedModel* m = deriv_model_of(ptr);
  m->update(theta);
  return Rcpp::NumericVector::create(Rcpp::Named("ldL2") = m->ldL2(), Rcpp::Named("pwrss") = m->pwrss(),
                                     Rcpp::Named("ldRX2") = m->ldRX2());
}

// The profiled criterion at theta and its exact gradient (prior weights ignored, as
// BlockedModel::objective). With Q = [X y]' V^{-1} [X y], P = X'V^{-1}X = R_X R_X',
// beta = P^{-1} X'V^{-1}y and pwrss = (-beta, 1)' Q (-beta, 1), the criterion is
// log|M| + [log|P|] + nmp (1 + log(2 pi pwrss / nmp)), so its derivative is
// dlog|M| + [tr(P^{-1} dP)] + nmp dpwrss / pwrss, where beta's own derivative drops
// out of dpwrss = (-beta, 1)' dQ (-beta, 1) because beta minimizes the quadratic form.
// With `hessian`, also the average-information approximation of the Hessian
// (attribute "hessian"; see derivatives.h).
// [[Rcpp::export(.model_objective_gradient)]]
Rcpp::NumericVector model_objective_gradient(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta, bool reml,
                                             bool hessian = false) {
  lemma::BlockedModel* m = deriv_model_of(ptr);
  m->update(theta);
  const int p = m->nfixed(), p1 = p + 1, k = m->ntheta();
  const Eigen::MatrixXd U = lemma::vinv_xy(*m);
  const Eigen::MatrixXd dQ = lemma::dQ_dtheta(*m, U);
  const Eigen::VectorXd dld = lemma::dlogdetM_dtheta(*m);
  Eigen::VectorXd bb(p1);
  bb.head(p) = -m->beta();
  bb[p] = 1.0;
  Eigen::MatrixXd Pinv;
  if (reml && p > 0) {
    const Eigen::MatrixXd rx = m->rx();
    Eigen::MatrixXd ri = Eigen::MatrixXd::Identity(p, p);
    rx.triangularView<Eigen::Lower>().solveInPlace(ri);  // R_X^{-1}
    Pinv = ri.transpose() * ri;
  }
  const double pwrss = m->pwrss();
  const double nmp = reml ? m->nobs() - p : m->nobs();
  Rcpp::NumericVector out(1);
  out[0] = m->objective(reml);
  Rcpp::NumericVector grad(k);
  for (int i = 0; i < k; ++i) {
    const Eigen::MatrixXd Qi = dQ.middleCols(static_cast<Eigen::Index>(i) * p1, p1);
    double g = dld[i] + nmp * bb.dot(Qi * bb) / pwrss;
    if (reml && p > 0) g += Pinv.cwiseProduct(Qi.topLeftCorner(p, p)).sum();
    grad[i] = g;
  }
  out.attr("gradient") = grad;
  if (hessian) out.attr("hessian") = lemma::average_information(*m, U, reml);
  return out;
}
