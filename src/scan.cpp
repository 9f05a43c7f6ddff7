// Spectral likelihood for y = X b + g + e, g ~ N(0, sg2 K), e ~ N(0, se2 I),
// after rotation by the eigenvectors of K (eigenvalues d): the covariance is
// se2 * diag(1 + lambda d) with lambda = sg2 / se2, so each evaluation of the
// profiled (RE)ML log-likelihood and its first two derivatives in lambda costs
// O(n k^2) for k = ncol(X) + 1 (+1 for a SNP). The search for lambda follows
// GEMMA: [lmin, lmax] split into log-spaced regions, the derivative's sign
// checked at the region ends, roots polished, and the best of the roots and
// the two ends kept.
// [[Rcpp::depends(RcppEigen)]]
#include "genetics.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace lemma {

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kLog2Pi = std::log(2.0 * M_PI);
}  // namespace

// Columns of A (rotated): the first p are the fixed effects that may be used
// (covariates, then optionally the SNP), the last one is y. The pairwise
// products of the columns are kept in Pm (n x k(k+1)/2) so that every
// weighted cross-product A' diag(h^r) A is one small matrix product.
class SpectralLik {
 public:
  SpectralLik(const Eigen::VectorXd& d, int k) : d_(d), n_(d.size()), k_(k) {
    npair_ = k * (k + 1) / 2;
    idx_.resize(k * k);
    int c = 0;
    for (int a = 0; a < k; ++a)
      for (int b = a; b < k; ++b) {
        idx_[a * k + b] = c;
        idx_[b * k + a] = c;
        ++c;
      }
    Pm_.resize(n_, npair_);
    Hm_.resize(n_, 3);
    G1_.resize(k, k);
    G2_.resize(k, k);
    G3_.resize(k, k);
    G0_.resize(k, k);
  }
  int pair(int a, int b) const { return idx_[a * k_ + b]; }
  // set product columns involving column a (a <= k-1) given all columns
  void set_products_for(const Eigen::MatrixXd& A, int a) {
    for (int b = 0; b < k_; ++b)
      Pm_.col(pair(a, b)) = A.col(a).cwiseProduct(A.col(b));
  }
  void set_all_products(const Eigen::MatrixXd& A) {
    for (int a = 0; a < k_; ++a)
      for (int b = a; b < k_; ++b)
        Pm_.col(pair(a, b)) = A.col(a).cwiseProduct(A.col(b));
  }
  // unweighted cross-products (for log|X'X| in the REML likelihood)
  void compute_unweighted() {
    Eigen::VectorXd s = Pm_.colwise().sum();
    fill(G0_, s.data(), 1);
  }

  struct Value {
    double f, d1, d2;
    bool ok;
  };

  // Profiled log-likelihood (reml or ml) of the model with X = first nx
  // columns at lambda; derivatives if need_deriv. GEMMA's conventions: the
  // REML version includes + 0.5 log|X'X|.
  Value eval(double lam, int nx, bool reml, bool need_f, bool need_deriv) {
    Value v = {kNaN, kNaN, kNaN, false};
    double sum_logh = 0.0, s_h = 0.0, s_h2 = 0.0, s_dh = 0.0, s_dh2 = 0.0;
    for (int i = 0; i < n_; ++i) {
      double t = 1.0 + lam * d_[i];
      double h = 1.0 / t;
      Hm_(i, 0) = h;
      Hm_(i, 1) = h * h;
      Hm_(i, 2) = h * h * h;
      sum_logh += std::log(std::fabs(t));
      s_h += h;
      s_h2 += h * h;
      double dh = d_[i] * h;
      s_dh += dh;
      s_dh2 += dh * dh;
    }
    Q_.noalias() = Pm_.transpose() * Hm_;
    fill(G1_, Q_.col(0).data(), 1);
    fill(G2_, Q_.col(1).data(), 1);
    fill(G3_, Q_.col(2).data(), 1);
    const int y = k_ - 1;
    double Pyy, PPyy = 0, PPPyy = 0, trP = 0, trPP = 0, logdetX = 0;
    if (nx > 0) {
      Eigen::LLT<Eigen::MatrixXd> llt(G1_.topLeftCorner(nx, nx));
      if (llt.info() != Eigen::Success) return v;
      Eigen::VectorXd gy = G1_.col(y).head(nx);
      Eigen::VectorXd b = llt.solve(gy);
      Pyy = G1_(y, y) - gy.dot(b);
      for (int j = 0; j < nx; ++j) logdetX += 2.0 * std::log(llt.matrixL()(j, j));
      if (need_deriv) {
        Eigen::MatrixXd G2x = G2_.topLeftCorner(nx, nx);
        Eigen::VectorXd g2y = G2_.block(0, y, nx, 1);
        Eigen::VectorXd g3y = G3_.block(0, y, nx, 1);
        PPyy = G2_(y, y) - 2.0 * b.dot(g2y) + b.dot(G2x * b);
        Eigen::VectorXd s = g2y - G2x * b;
        PPPyy = G3_(y, y) - 2.0 * b.dot(g3y) +
                b.dot(G3_.topLeftCorner(nx, nx) * b) - s.dot(llt.solve(s));
        if (reml) {
          Eigen::MatrixXd CG2 = llt.solve(G2x);
          Eigen::MatrixXd CG3 = llt.solve(G3_.topLeftCorner(nx, nx));
          trP = s_h - CG2.trace();
          trPP = s_h2 - 2.0 * CG3.trace() + (CG2 * CG2).trace();
        }
      }
    } else {
      Pyy = G1_(y, y);
      PPyy = G2_(y, y);
      PPPyy = G3_(y, y);
      trP = s_h;
      trPP = s_h2;
    }
    const double n = static_cast<double>(n_);
    const double df = reml ? n - nx : n;
    if (need_f) {
      double P = Pyy;
      if (reml) {
        if (P < 1e-8) P = 1e-8;
        double logdet0 = 0.0;
        if (nx > 0) {
          Eigen::LLT<Eigen::MatrixXd> l0(G0_.topLeftCorner(nx, nx));
          if (l0.info() != Eigen::Success) return v;
          for (int j = 0; j < nx; ++j) logdet0 += 2.0 * std::log(l0.matrixL()(j, j));
        }
        v.f = 0.5 * df * (std::log(df) - kLog2Pi - 1.0) - 0.5 * sum_logh -
              0.5 * (logdetX - logdet0) - 0.5 * df * std::log(P);
      } else {
        v.f = 0.5 * n * (std::log(n) - kLog2Pi - 1.0) - 0.5 * sum_logh -
              0.5 * n * std::log(P);
      }
    }
    if (need_deriv) {
      double yPKPy = (Pyy - PPyy) / lam;
      double yPKPKPy = (Pyy + PPPyy - 2.0 * PPyy) / (lam * lam);
      double tr1, tr2;
      if (reml) {
        tr1 = (df - trP) / lam;
        tr2 = (df + trPP - 2.0 * trP) / (lam * lam);
      } else {
        tr1 = s_dh;
        tr2 = s_dh2;
      }
      v.d1 = -0.5 * tr1 + 0.5 * df * yPKPy / Pyy;
      v.d2 = 0.5 * tr2 -
             0.5 * df * (2.0 * yPKPKPy * Pyy - yPKPy * yPKPy) / (Pyy * Pyy);
    }
    v.ok = (!need_f || std::isfinite(v.f)) &&
           (!need_deriv || (std::isfinite(v.d1) && std::isfinite(v.d2)));
    return v;
  }

  // Weighted (h = 1 / (1 + lambda d)) quantities for a SNP column xs, given
  // covariates = first c columns: x'Px, x'Py, y'Py with P projecting out
  // the covariates.
  bool projected(double lam, int c, int xs, double& Pxx, double& Pxy,
                 double& Pyy) {
    for (int i = 0; i < n_; ++i) Hm_(i, 0) = 1.0 / (1.0 + lam * d_[i]);
    Eigen::VectorXd q = Pm_.transpose() * Hm_.col(0);
    fill(G1_, q.data(), 1);
    const int y = k_ - 1;
    Pxx = G1_(xs, xs);
    Pxy = G1_(xs, y);
    Pyy = G1_(y, y);
    if (c > 0) {
      Eigen::LLT<Eigen::MatrixXd> llt(G1_.topLeftCorner(c, c));
      if (llt.info() != Eigen::Success) return false;
      Eigen::VectorXd gx = G1_.block(0, xs, c, 1), gy = G1_.block(0, y, c, 1);
      Eigen::VectorXd bx = llt.solve(gx), by = llt.solve(gy);
      Pxx -= gx.dot(bx);
      Pxy -= gx.dot(by);
      Pyy -= gy.dot(by);
    }
    return std::isfinite(Pxx) && std::isfinite(Pxy) && std::isfinite(Pyy);
  }

  // GLS fit at lambda for X = first nx columns: beta, (X'H^-1X)^-1, y'Py
  bool gls(double lam, int nx, Eigen::VectorXd& beta, Eigen::MatrixXd& C,
           double& Pyy) {
    for (int i = 0; i < n_; ++i) Hm_(i, 0) = 1.0 / (1.0 + lam * d_[i]);
    Eigen::VectorXd q = Pm_.transpose() * Hm_.col(0);
    fill(G1_, q.data(), 1);
    const int y = k_ - 1;
    Eigen::LLT<Eigen::MatrixXd> llt(G1_.topLeftCorner(nx, nx));
    if (llt.info() != Eigen::Success) return false;
    beta = llt.solve(G1_.block(0, y, nx, 1));
    C = llt.solve(Eigen::MatrixXd::Identity(nx, nx));
    Pyy = G1_(y, y) - G1_.col(y).head(nx).dot(beta);
    return true;
  }

  // Maximize the (RE)ML over lambda in [lmin, lmax] as GEMMA does. Returns
  // false if the search met non-finite values.
  bool maximize(int nx, bool reml, double lmin, double lmax, int nregion,
                double& lam_best, double& f_best) {
    const double step = std::log(lmax / lmin) / nregion;
    std::vector<double> grid(nregion + 1), dg(nregion + 1);
    for (int i = 0; i <= nregion; ++i) {
      grid[i] = lmin * std::exp(step * i);
      if (i == nregion) grid[i] = lmax;
      Value v = eval(grid[i], nx, reml, false, true);
      if (!v.ok) return false;
      dg[i] = v.d1;
    }
    Value vl = eval(lmin, nx, reml, true, false);
    Value vh = eval(lmax, nx, reml, true, false);
    if (!vl.ok || !vh.ok) return false;
    bool have = false;
    double lb = kNaN, fb = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < nregion; ++i) {
      // a maximum lies where the derivative goes from >= 0 to <= 0
      if (!(dg[i] >= 0.0 && dg[i + 1] <= 0.0)) continue;
      double root;
      if (!find_root(grid[i], grid[i + 1], dg[i], dg[i + 1], nx, reml, root))
        return false;
      Value v = eval(root, nx, reml, true, false);
      if (!v.ok) return false;
      if (!have || v.f > fb) {
        lb = root;
        fb = v.f;
        have = true;
      }
    }
    if (!have) {
      if (vl.f >= vh.f) {
        lam_best = lmin;
        f_best = vl.f;
      } else {
        lam_best = lmax;
        f_best = vh.f;
      }
      return true;
    }
    if (vl.f > fb) {
      lb = lmin;
      fb = vl.f;
    }
    if (vh.f > fb) {
      lb = lmax;
      fb = vh.f;
    }
    lam_best = lb;
    f_best = fb;
    return true;
  }

 private:
  // Root of the derivative in [lo, hi] (d1(lo) >= 0 >= d1(hi)): Newton steps
  // in log(lambda), safeguarded by bisection.
  bool find_root(double lo, double hi, double dlo, double dhi, int nx,
                 bool reml, double& root) {
    if (dlo == 0.0) { root = lo; return true; }
    if (dhi == 0.0) { root = hi; return true; }
    double a = std::log(lo), b = std::log(hi);
    double t = 0.5 * (a + b);
    for (int it = 0; it < 200; ++it) {
      double lam = std::exp(t);
      Value v = eval(lam, nx, reml, false, true);
      if (!v.ok) return false;
      if (v.d1 == 0.0) { root = lam; return true; }
      if (v.d1 > 0.0) a = t; else b = t;
      // derivative in u = log(lambda): g(u) = lam * d1; g' = lam*d1 + lam^2*d2
      double g = lam * v.d1, gp = lam * v.d1 + lam * lam * v.d2;
      double tn = (gp != 0.0 && std::isfinite(gp)) ? t - g / gp : kNaN;
      if (!(tn > a && tn < b)) tn = 0.5 * (a + b);
      double dt = std::fabs(tn - t);
      t = tn;
      if (dt < 1e-12 || (b - a) < 1e-12) break;
    }
    root = std::exp(t);
    return std::isfinite(root);
  }

  void fill(Eigen::MatrixXd& G, const double* q, int) {
    for (int a = 0; a < k_; ++a)
      for (int b = a; b < k_; ++b) {
        double v = q[pair(a, b)];
        G(a, b) = v;
        G(b, a) = v;
      }
  }

  Eigen::VectorXd d_;
  int n_, k_, npair_;
  std::vector<int> idx_;
  Eigen::MatrixXd Pm_, Hm_, Q_, G0_, G1_, G2_, G3_;
};

}  // namespace lemma

using namespace lemma;

// Null model fit by the spectral method. UtX: rotated X (n x p), Uty: rotated
// y, d: eigenvalues. Returns lambda, GEMMA's log-likelihood at lambda, beta,
// its covariance scale matrix (X'H^-1X)^-1 and y'Py.
// [[Rcpp::export(.spectral_null)]]
Rcpp::List spectral_null_cpp(Eigen::Map<Eigen::VectorXd> d,
                             Eigen::Map<Eigen::MatrixXd> UtX,
                             Eigen::Map<Eigen::VectorXd> Uty, bool reml,
                             double lmin, double lmax, int nregion) {
  const int n = d.size(), p = UtX.cols();
  if (UtX.rows() != n || Uty.size() != n)
    throw std::runtime_error("dimensions of the rotated data do not match");
  Eigen::MatrixXd A(n, p + 1);
  A.leftCols(p) = UtX;
  A.col(p) = Uty;
  SpectralLik lik(d, p + 1);
  lik.set_all_products(A);
  lik.compute_unweighted();
  double lam, f;
  if (!lik.maximize(p, reml, lmin, lmax, nregion, lam, f))
    throw std::runtime_error(
        "the search for the variance ratio met non-finite values");
  Eigen::VectorXd beta;
  Eigen::MatrixXd C;
  double Pyy;
  if (!lik.gls(lam, p, beta, C, Pyy))
    throw std::runtime_error("X'H^-1X is not positive definite");
  // log|X'X| so that R can convert to lme4's REML convention
  Eigen::MatrixXd XtX = UtX.transpose() * UtX;
  Eigen::LLT<Eigen::MatrixXd> l0(XtX);
  double logdetXtX = 0.0;
  for (int j = 0; j < p; ++j) logdetXtX += 2.0 * std::log(l0.matrixL()(j, j));
  return Rcpp::List::create(
      Rcpp::Named("lambda") = lam, Rcpp::Named("logl") = f,
      Rcpp::Named("beta") = Rcpp::wrap(beta), Rcpp::Named("C") = Rcpp::wrap(C),
      Rcpp::Named("Pyy") = Pyy, Rcpp::Named("logdetXtX") = logdetXtX);
}

// One chunk of the scan. G: dosages (n x B, NA missing) of the analysed
// individuals, in the order of the rows of U. W: covariates (n x c, original
// scale) for GEMMA's r2 filter; UtW, Uty: rotated covariates and phenotype.
// Columns of the result:
//  0 status (0 tested, 1 missingness, 2 maf, 3 fewer than two genotype
//    classes, 4 r2 with covariates, 5 numerical failure)
//  1 n_miss, 2 af, 3 beta, 4 se, 5 logl_H1 (ML), 6 l_remle, 7 l_mle,
//  8 F wald, 9 F score, 10 logl_H1 REML
// [[Rcpp::export(.scan_chunk)]]
Rcpp::NumericMatrix scan_chunk_cpp(Eigen::Map<Eigen::MatrixXd> U,
                                   Eigen::Map<Eigen::VectorXd> d,
                                   Eigen::Map<Eigen::MatrixXd> W,
                                   Eigen::Map<Eigen::MatrixXd> UtW,
                                   Eigen::Map<Eigen::VectorXd> Uty,
                                   Rcpp::NumericMatrix G, bool do_wald,
                                   bool do_lrt, bool do_score, bool exact,
                                   double lam_null_ml, double lam_null_reml,
                                   double maf, double miss, double r2,
                                   double lmin, double lmax, int nregion) {
  const int n = d.size(), c = UtW.cols(), B = G.ncol();
  if (G.nrow() != n || U.rows() != n || W.rows() != n)
    throw std::runtime_error("genotype rows do not match the individuals");
  const int NC = 11;
  Rcpp::NumericMatrix out(B, NC);
  std::fill(out.begin(), out.end(), NA_REAL);

  // GEMMA's r2 filter uses (W'W)^-1
  Eigen::MatrixXd WtW = W.transpose() * W;
  Eigen::LDLT<Eigen::MatrixXd> wtw(WtW);

  // filter and impute
  Eigen::MatrixXd X(n, B);
  std::vector<int> keep;
  keep.reserve(B);
  std::vector<double> x(n);
  for (int j = 0; j < B; ++j) {
    const double* col = &G(0, j);
    for (int i = 0; i < n; ++i)
      x[i] = ISNAN(col[i]) ? kNaN : col[i];
    SnpStats s = snp_stats(x.data(), n);
    out(j, 1) = s.n_miss;
    out(j, 2) = std::isnan(s.af) ? NA_REAL : s.af;
    int status = 0;
    if (s.n_miss == n || static_cast<double>(s.n_miss) / n > miss) status = 1;
    else if (s.af < maf || s.af > 1.0 - maf) status = 2;
    else if (s.n_class < 2) status = 3;
    if (status == 0) {
      Eigen::Map<Eigen::VectorXd> xv(X.col(keep.size()).data(), n);
      for (int i = 0; i < n; ++i) xv[i] = std::isnan(x[i]) ? s.mean : x[i];
      if (c > 1) {
        Eigen::VectorXd Wtx = W.transpose() * xv;
        double vw = Wtx.dot(wtw.solve(Wtx)), vx = xv.squaredNorm();
        if (vw / vx > r2) status = 4;
      }
    }
    out(j, 0) = status;
    if (status == 0) keep.push_back(j);
  }
  const int nk = keep.size();
  if (nk == 0) return out;
  // rotate all kept SNPs at once
  Eigen::MatrixXd UtG = U.transpose() * X.leftCols(nk);

  // A = [UtW, Utx, Uty]
  const int k = c + 2, xs = c, y = c + 1;
  Eigen::MatrixXd A(n, k);
  A.leftCols(c) = UtW;
  A.col(y) = Uty;
  A.col(xs).setZero();
  SpectralLik lik(d, k);
  lik.set_all_products(A);
  const double dfw = static_cast<double>(n - c - 1);
  for (int kk = 0; kk < nk; ++kk) {
    if (kk % 64 == 0) Rcpp::checkUserInterrupt();
    const int j = keep[kk];
    A.col(xs) = UtG.col(kk);
    lik.set_products_for(A, xs);
    lik.compute_unweighted();
    bool ok = true;
    double Pxx, Pxy, Pyy;
    double beta = kNaN, se = kNaN;
    if (do_score) {
      ok = ok && lik.projected(lam_null_ml, c, xs, Pxx, Pxy, Pyy);
      if (ok) {
        out(j, 9) = n * Pxy * Pxy / (Pyy * Pxx);
        double Px_yy = Pyy - Pxy * Pxy / Pxx;
        beta = Pxy / Pxx;
        se = std::sqrt(Px_yy / (dfw * Pxx));
      }
    }
    if (do_lrt && ok) {
      double lam = lam_null_ml, f;
      if (exact) {
        ok = lik.maximize(c + 1, false, lmin, lmax, nregion, lam, f);
      } else {
        SpectralLik::Value v = lik.eval(lam, c + 1, false, true, false);
        ok = v.ok;
        f = v.f;
      }
      if (ok) {
        out(j, 7) = lam;
        out(j, 5) = f;
        if (!do_wald && !do_score) {
          ok = lik.projected(lam, c, xs, Pxx, Pxy, Pyy);
          if (ok) {
            double Px_yy = Pyy - Pxy * Pxy / Pxx;
            beta = Pxy / Pxx;
            se = std::sqrt(Px_yy / (dfw * Pxx));
          }
        }
      }
    }
    if (do_wald && ok) {
      double lam = lam_null_reml, f = kNaN;
      if (exact) ok = lik.maximize(c + 1, true, lmin, lmax, nregion, lam, f);
      if (ok) ok = lik.projected(lam, c, xs, Pxx, Pxy, Pyy);
      if (ok) {
        double Px_yy = Pyy - Pxy * Pxy / Pxx;
        double tau = dfw / Px_yy;
        beta = Pxy / Pxx;
        se = std::sqrt(1.0 / (tau * Pxx));
        out(j, 6) = lam;
        out(j, 8) = (Pyy - Px_yy) * tau;
        out(j, 10) = f;
      }
    }
    if (!ok || !std::isfinite(beta) || !std::isfinite(se)) {
      out(j, 0) = 5;
      for (int q = 3; q < NC; ++q) out(j, q) = NA_REAL;
      continue;
    }
    out(j, 3) = beta;
    out(j, 4) = se;
  }
  return out;
}
