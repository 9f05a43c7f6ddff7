// Whitening by residual covariance structures and the R entry points of models
// with one (see covstruct.h). The random-effect case builds a BlockedModel on the
// whitened data at each evaluation: its cross-products depend on V.
#include "covstruct.h"
#include "term_data_r.h"

#include <cmath>

namespace lemma {

Whitened whiten(const CovStructData& d, const std::vector<MatrixXd>& V) {
  const int np = static_cast<int>(d.pattern_group.size());
  std::vector<MatrixXd> chol(np);
  std::vector<double> logdet(np);
  for (int k = 0; k < np; ++k) {
    const int s = d.pattern_first[k];
    const int r0 = d.start[s], m = d.start[s + 1] - r0;
    const MatrixXd& Vg = V[d.pattern_group[k]];
    MatrixXd Vs(m, m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) Vs(i, j) = Vg(d.visit[r0 + i], d.visit[r0 + j]);
    Eigen::LLT<MatrixXd> llt(Vs);
    if (llt.info() != Eigen::Success) throw std::runtime_error("a residual covariance matrix is not positive definite");
    chol[k] = llt.matrixL();
    double ld = 0;
    for (int i = 0; i < m; ++i) ld += 2 * std::log(chol[k](i, i));
    logdet[k] = ld;
  }
  Whitened w;
  w.chol = chol;
  w.X = d.X;
  w.y = d.y;
  w.terms = d.terms;
  for (int s = 0; s < d.nsubj(); ++s) {
    const int r0 = d.start[s], m = d.start[s + 1] - r0;
    const int k = d.pattern[s];
    auto L = chol[k].triangularView<Eigen::Lower>();
    w.logdet += logdet[k];
    if (w.X.cols() > 0) {
      auto Xs = w.X.middleRows(r0, m);
      L.solveInPlace(Xs);
    }
    auto ys = w.y.segment(r0, m);
    L.solveInPlace(ys);
    for (auto& t : w.terms) {
      auto Ts = t.X.middleRows(r0, m);
      L.solveInPlace(Ts);
    }
  }
  return w;
}

GlsSolution gls_solve(const Whitened& w) {
  const int p = static_cast<int>(w.X.cols());
  MatrixXd A(p + 1, p + 1);
  A.topLeftCorner(p, p).setZero();
  A.topLeftCorner(p, p).selfadjointView<Eigen::Lower>().rankUpdate(w.X.transpose());
  A.bottomLeftCorner(1, p) = (w.X.transpose() * w.y).transpose();
  A(p, p) = w.y.squaredNorm();
  Eigen::LLT<MatrixXd> llt(A.selfadjointView<Eigen::Lower>());
  if (llt.info() != Eigen::Success)
    throw std::runtime_error("the whitened fixed-effects cross-product is not positive definite");
  MatrixXd L = llt.matrixL();
  GlsSolution out;
  out.RX = L.topLeftCorner(p, p);
  out.beta = out.RX.transpose().triangularView<Eigen::Upper>().solve(L.bottomLeftCorner(1, p).transpose());
  out.pwrss = L(p, p) * L(p, p);
  for (int i = 0; i < p; ++i) out.ldRX2 += 2 * std::log(L(i, i));
  return out;
}

std::vector<MatrixXd> gls_gradient_weights(const CovStructData& d, const Whitened& w, const GlsSolution& s,
                                           int ngroups, int nvisits, bool reml, double sigma2) {
  const int p = static_cast<int>(w.X.cols());
  const int n = static_cast<int>(w.y.size());
  const double nmp = reml ? n - p : n;
  const double c = sigma2 > 0 ? 1 / sigma2 : nmp / s.pwrss;
  std::vector<MatrixXd> W(ngroups, MatrixXd::Zero(nvisits, nvisits));
  // Whitened residuals and X R^-T (R R' = P), per row.
  VectorXd e = w.y - w.X * s.beta;
  MatrixXd G;
  if (reml && p > 0) G = s.RX.triangularView<Eigen::Lower>().solve(w.X.transpose()).transpose();
  // Per pattern k with factor L (V = L L'), sum_s V^-1 r_s r_s' V^-1 =
  // L^-T (sum_s rw_s rw_s') L^-1 for whitened rw_s: accumulate the whitened outer
  // products per pattern and solve twice per pattern, not per subject.
  const int np = static_cast<int>(w.chol.size());
  std::vector<int> count(np, 0);
  std::vector<MatrixXd> acc(np);
  for (int k = 0; k < np; ++k) {
    const int sj = d.pattern_first[k];
    const int m = d.start[sj + 1] - d.start[sj];
    acc[k] = MatrixXd::Zero(m, m);
  }
  for (int sj = 0; sj < d.nsubj(); ++sj) {
    const int r0 = d.start[sj], m = d.start[sj + 1] - r0;
    const int k = d.pattern[sj];
    ++count[k];
    auto es = e.segment(r0, m);
    acc[k].noalias() -= c * es * es.transpose();
    if (reml && p > 0) {
      auto Gs = G.middleRows(r0, m);
      acc[k].noalias() -= Gs * Gs.transpose();
    }
  }
  for (int k = 0; k < np; ++k) {
    const int sj = d.pattern_first[k];
    const int r0 = d.start[sj], m = d.start[sj + 1] - r0;
    auto L = w.chol[k].triangularView<Eigen::Lower>();
    MatrixXd Linv = L.solve(MatrixXd::Identity(m, m));
    MatrixXd M = Linv.transpose() * (acc[k] + count[k] * MatrixXd::Identity(m, m)) * Linv;
    MatrixXd& Wg = W[d.pattern_group[k]];
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) Wg(d.visit[r0 + i], d.visit[r0 + j]) += M(i, j);
  }
  return W;
}

MatrixXd gls_information(const CovStructData& d, const Whitened& w, const GlsSolution& s, int ngroups,
                         int nvisits, bool reml) {
  const int p = static_cast<int>(w.X.cols());
  const int n = static_cast<int>(w.y.size());
  const int m = nvisits, m2 = m * m, dim = ngroups * m2;
  const int np = static_cast<int>(w.chol.size());
  const bool proj = reml && p > 0;
  const double nmp = reml ? n - p : n;
  // H_s = V_s^-1 X_s RX^-T: rows of the whitened X R^-T, each subject's block
  // then solved by its L'.
  MatrixXd H;
  if (proj) {
    H = s.RX.triangularView<Eigen::Lower>().solve(w.X.transpose()).transpose();
    for (int sj = 0; sj < d.nsubj(); ++sj) {
      const int r0 = d.start[sj], ms = d.start[sj + 1] - r0;
      auto Hs = H.middleRows(r0, ms);
      w.chol[d.pattern[sj]].transpose().triangularView<Eigen::Upper>().solveInPlace(Hs);
    }
  }
  // Per pattern: its subjects and sum_s H_s H_s'; per group: one row per subject
  // holding H_s's row of visit a in columns a p .. a p + p - 1 (zero if absent),
  // so that its cross-product has the blocks N_ab = sum_s H_s[a]' H_s[b].
  std::vector<int> count(np, 0), nsub(ngroups, 0), at(ngroups, 0);
  std::vector<MatrixXd> Q(np), Hall(ngroups);
  for (int k = 0; k < np; ++k) {
    const int sj = d.pattern_first[k];
    const int ms = d.start[sj + 1] - d.start[sj];
    Q[k] = MatrixXd::Zero(ms, ms);
  }
  for (int sj = 0; sj < d.nsubj(); ++sj) ++nsub[d.pattern_group[d.pattern[sj]]];
  if (proj)
    for (int g = 0; g < ngroups; ++g) Hall[g] = MatrixXd::Zero(nsub[g], m * p);
  for (int sj = 0; sj < d.nsubj(); ++sj) {
    const int r0 = d.start[sj], ms = d.start[sj + 1] - r0;
    const int k = d.pattern[sj], g = d.pattern_group[k];
    ++count[k];
    if (!proj) continue;
    auto Hs = H.middleRows(r0, ms);
    Q[k].noalias() += Hs * Hs.transpose();
    for (int i = 0; i < ms; ++i) Hall[g].block(at[g], d.visit[r0 + i] * p, 1, p) = Hs.row(i);
    ++at[g];
  }
  // tr(P E_ab P E_cd) = sum_s [A_bc A_da - A_da Q_bc - Q_da A_bc] + tr(N_ab N_cd),
  // A = V_s^-1, Q = H_s H_s', and tr(P E_ab) = sum_s (A - Q)_ba.
  MatrixXd F = MatrixXd::Zero(dim, dim);
  VectorXd t = VectorXd::Zero(dim);
  std::vector<int> idx;
  for (int k = 0; k < np; ++k) {
    const int sj = d.pattern_first[k];
    const int r0 = d.start[sj], ms = d.start[sj + 1] - r0;
    const int off = d.pattern_group[k] * m2;
    MatrixXd Linv = w.chol[k].triangularView<Eigen::Lower>().solve(MatrixXd::Identity(ms, ms));
    const MatrixXd A = Linv.transpose() * Linv;
    const MatrixXd& Qk = Q[k];
    const double c = count[k];
    idx.assign(ms, 0);
    for (int i = 0; i < ms; ++i) idx[i] = d.visit[r0 + i];
    for (int j = 0; j < ms; ++j)
      for (int i = 0; i < ms; ++i) {
        const int ab = off + idx[i] + idx[j] * m;
        t(ab) += c * A(j, i) - Qk(j, i);
        for (int v = 0; v < ms; ++v)
          for (int u = 0; u < ms; ++u)
            F(ab, off + idx[u] + idx[v] * m) += c * A(j, u) * A(v, i) - A(v, i) * Qk(j, u) - Qk(v, i) * A(j, u);
      }
  }
  if (proj) {
    std::vector<MatrixXd> N(ngroups);
    for (int g = 0; g < ngroups; ++g) {
      MatrixXd Ng = MatrixXd::Zero(m * p, m * p);
      Ng.selfadjointView<Eigen::Lower>().rankUpdate(Hall[g].transpose());
      N[g] = Ng.selfadjointView<Eigen::Lower>();
    }
    for (int ab = 0; ab < dim; ++ab) {
      const int g = ab / m2, a = ab % m2 % m, b = ab % m2 / m;
      const auto Nab = N[g].block(a * p, b * p, p, p);
      for (int cd = 0; cd <= ab; ++cd) {
        const int h = cd / m2, c = cd % m2 % m, e = cd % m2 / m;
        const double tr = Nab.cwiseProduct(N[h].block(e * p, c * p, p, p)).sum();
        F(ab, cd) += tr;
        if (cd != ab) F(cd, ab) += tr;
      }
    }
  }
  F.noalias() -= t * t.transpose() / nmp;
  return F;
}

}  // namespace lemma

namespace {

using lemma::CovStructData;
using Eigen::MatrixXd;
using Eigen::VectorXd;

CovStructData* covstruct_of(SEXP ptr) {
  Rcpp::XPtr<CovStructData> xp(ptr);
  if (xp.get() == nullptr) Rcpp::stop("the model's C++ state is gone (the object was saved and reloaded)");
  return xp.get();
}

std::vector<MatrixXd> as_matrices(Rcpp::List V) {
  std::vector<MatrixXd> out;
  for (int g = 0; g < V.size(); ++g) out.push_back(Rcpp::as<MatrixXd>(V[g]));
  return out;
}

Rcpp::List as_vectors(const std::vector<VectorXd>& v) {
  Rcpp::List out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = Rcpp::wrap(v[i]);
  return out;
}

std::vector<int> as_ints(Rcpp::IntegerVector v) { return std::vector<int>(v.begin(), v.end()); }

}  // namespace

// terms as for .model_new; start: 0-based first row of each subject plus n;
// visit, pattern, pattern_group, pattern_first: 0-based.
// [[Rcpp::export(.covstruct_new)]]
SEXP covstruct_new(Rcpp::List terms, const Eigen::Map<Eigen::MatrixXd> X, const Eigen::Map<Eigen::VectorXd> y,
                   Rcpp::IntegerVector start, Rcpp::IntegerVector visit, Rcpp::IntegerVector pattern,
                   Rcpp::IntegerVector pattern_group, Rcpp::IntegerVector pattern_first) {
  auto* d = new CovStructData();
  d->X = X;
  d->y = y;
  for (int t = 0; t < terms.size(); ++t) d->terms.push_back(lemma::term_data_from_r(terms[t]));
  d->start = as_ints(start);
  d->visit = Rcpp::as<Eigen::VectorXi>(visit);
  d->pattern = as_ints(pattern);
  d->pattern_group = as_ints(pattern_group);
  d->pattern_first = as_ints(pattern_first);
  Rcpp::XPtr<CovStructData> p(d, true);
  return p;
}

// Without random-effect terms: the pieces of the criterion and the gradient
// weights W_g of gls_gradient_weights() (sigma2 = 0: sigma^2 profiled out); with
// `info`, also the expected information F of gls_information().
// [[Rcpp::export(.covstruct_gls_grad)]]
Rcpp::List covstruct_gls_grad(SEXP ptr, Rcpp::List V, int nvisits, bool reml, double sigma2 = 0,
                              bool info = false) {
  const CovStructData* d = covstruct_of(ptr);
  lemma::Whitened w = lemma::whiten(*d, as_matrices(V));
  lemma::GlsSolution s = lemma::gls_solve(w);
  std::vector<MatrixXd> W = lemma::gls_gradient_weights(*d, w, s, V.size(), nvisits, reml, sigma2);
  Rcpp::List Wl(W.size());
  for (size_t g = 0; g < W.size(); ++g) Wl[g] = Rcpp::wrap(W[g]);
  Rcpp::List out = Rcpp::List::create(Rcpp::Named("ldL2") = 0.0, Rcpp::Named("ldRX2") = s.ldRX2,
                                      Rcpp::Named("pwrss") = s.pwrss, Rcpp::Named("logdet") = w.logdet,
                                      Rcpp::Named("W") = Wl);
  if (info) out["F"] = lemma::gls_information(*d, w, s, V.size(), nvisits, reml);
  return out;
}

// The pieces of the criterion at (V, theta): log|L|^2, log|RX|^2, the penalized
// residual sum of squares and sum log|V_s|; with `full`, also beta, RX, u and b.
// [[Rcpp::export(.covstruct_eval)]]
Rcpp::List covstruct_eval(SEXP ptr, Rcpp::List V, const Eigen::Map<Eigen::VectorXd> theta, bool full) {
  const CovStructData* d = covstruct_of(ptr);
  lemma::Whitened w = lemma::whiten(*d, as_matrices(V));
  if (d->terms.empty()) {
    lemma::GlsSolution s = lemma::gls_solve(w);
    Rcpp::List out = Rcpp::List::create(Rcpp::Named("ldL2") = 0.0, Rcpp::Named("ldRX2") = s.ldRX2,
                                        Rcpp::Named("pwrss") = s.pwrss, Rcpp::Named("logdet") = w.logdet);
    if (full) {
      out["beta"] = s.beta;
      out["RX"] = s.RX;
    }
    return out;
  }
  const double logdet = w.logdet;
  lemma::BlockedModel m(std::move(w.terms), w.X, w.y, 1);
  m.update(theta);
  Rcpp::List out = Rcpp::List::create(Rcpp::Named("ldL2") = m.ldL2(), Rcpp::Named("ldRX2") = m.ldRX2(),
                                      Rcpp::Named("pwrss") = m.pwrss(), Rcpp::Named("logdet") = logdet);
  if (full) {
    std::vector<VectorXd> u = m.u();
    out["beta"] = m.beta();
    out["RX"] = m.rx();
    out["u"] = as_vectors(u);
    out["b"] = as_vectors(m.b(u));
  }
  return out;
}
