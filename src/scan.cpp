// Spectral likelihood for y = X b + g + e, g ~ N(0, sg2 K), e ~ N(0, se2 I),
// after rotation by the eigenvectors of K (eigenvalues d): the covariance is
// se2 * diag(1 + lambda d) with lambda = sg2 / se2, so the profiled (RE)ML
// log-likelihood and its first two derivatives in lambda depend on the data
// only through the weighted cross-products A' diag(h^r) A, r = 1, 2, 3,
// h = 1 / (1 + lambda d), A = [X y]: O(n k^2) per evaluation
// (spectral_sums.h).
//
// Two searches for lambda, both over [lmin, lmax] split into log-spaced
// regions with the derivative's sign checked at the region ends:
//  * "gemma" (the scan's default) repeats GEMMA 0.98's CalcLambda step for
//    step: in every region whose end derivatives differ in sign, a Brent-Dekker
//    bracketing search on the derivative until the bracket is within 10% of
//    lambda, then Newton steps in lambda until a step is below 1e-5 relative,
//    keeping the iterate before that step; the best of these and the two ends
//    wins. Its lambda is within ~1e-5 (relative) of the optimum, and it is the
//    number GEMMA reports, so beta and p agree with GEMMA's to rounding.
//  * "exact": in regions where the derivative goes from + to -, Newton steps
//    in log(lambda) safeguarded by bisection to a relative precision of ~1e-12.
//
// In a scan, the evaluations at the grid points (and at the null model's
// lambda) are shared by all SNPs of a block and done as matrix products; the
// blocks of SNPs are spread over OpenMP threads, each SNP computed by one
// thread with the same operations whatever the number of threads.
// [[Rcpp::depends(RcppEigen)]]
#include "genetics.h"
#include "spectral_sums.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace lemma {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kLog2Pi = std::log(2.0 * M_PI);
const int kMaxK = 40;  // covariates + SNP + response
// precision = "mixed": margin on the rotation's error in x'Py, measured at
// the null lambdas (see float_needs_redo), for the move to the SNP's own
// lambda and the LRT's and score's use of the same cross-products
const double kFloatSafety = 10.0;
// and of the randomized bound on the norm of the rotation's error
const double kProbeSafety = 10.0;

typedef Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor,
                      kMaxK, kMaxK>
    SMat;
typedef Eigen::Matrix<double, Eigen::Dynamic, 1, Eigen::ColMajor, kMaxK, 1>
    SVec;

typedef SpectralScalars Scalars;

struct LikValue {
  double f, d1, d2;
  bool ok;
};


// Profiled log-likelihood (GEMMA's conventions: the REML version includes
// + 0.5 log|X'X|) and derivatives in lambda, from the weighted Gram matrices
// G1, G2, G3 of the columns [X (first nx) ..., y (column yc)].
LikValue lik_from(const SMat& G1, const SMat& G2, const SMat& G3,
                  const Scalars& sc, double lam, int n, int nx, int yc,
                  double logdet0, bool reml, bool need_f, bool need_d1,
                  bool need_d2) {
  LikValue v = {kNaN, kNaN, kNaN, false};
  double Pyy, PPyy = 0.0, PPPyy = 0.0, trP = sc.s_h, trPP = sc.s_h2,
              logdetX = 0.0;
  const bool deriv = need_d1 || need_d2;
  if (nx > 0) {
    Eigen::LLT<SMat> llt(G1.topLeftCorner(nx, nx));
    if (llt.info() != Eigen::Success) return v;
    SVec gy = G1.col(yc).head(nx);
    SVec b = llt.solve(gy);
    Pyy = G1(yc, yc) - gy.dot(b);
    if (need_f && reml)
      for (int j = 0; j < nx; ++j) logdetX += 2.0 * std::log(llt.matrixL()(j, j));
    if (deriv) {
      SMat G2x = G2.topLeftCorner(nx, nx);
      SVec g2y = G2.col(yc).head(nx);
      SVec G2b = G2x * b;
      PPyy = G2(yc, yc) - 2.0 * b.dot(g2y) + b.dot(G2b);
      SMat CG2;
      if (reml) {
        CG2 = llt.solve(G2x);
        trP = sc.s_h - CG2.trace();
      }
      if (need_d2) {
        SVec s = g2y - G2b;
        SVec g3y = G3.col(yc).head(nx);
        SMat G3x = G3.topLeftCorner(nx, nx);
        PPPyy = G3(yc, yc) - 2.0 * b.dot(g3y) + b.dot(G3x * b) -
                s.dot(llt.solve(s));
        if (reml) {
          SMat CG3 = llt.solve(G3x);
          trPP = sc.s_h2 - 2.0 * CG3.trace() + (CG2 * CG2).trace();
        }
      }
    }
  } else {
    Pyy = G1(yc, yc);
    if (deriv) PPyy = G2(yc, yc);
    if (need_d2) PPPyy = G3(yc, yc);
  }
  const double nn = static_cast<double>(n);
  const double df = reml ? nn - nx : nn;
  if (need_f) {
    if (reml) {
      double P = Pyy < 1e-8 ? 1e-8 : Pyy;
      v.f = 0.5 * df * (std::log(df) - kLog2Pi - 1.0) - 0.5 * sc.logdet -
            0.5 * (logdetX - logdet0) - 0.5 * df * std::log(P);
    } else {
      v.f = 0.5 * nn * (std::log(nn) - kLog2Pi - 1.0) - 0.5 * sc.logdet -
            0.5 * nn * std::log(Pyy);
    }
  }
  if (deriv) {
    double yPKPy = (Pyy - PPyy) / lam;
    double tr1 = reml ? (df - trP) / lam : sc.s_dh;
    v.d1 = -0.5 * tr1 + 0.5 * df * yPKPy / Pyy;
    if (need_d2) {
      double yPKPKPy = (Pyy + PPPyy - 2.0 * PPyy) / (lam * lam);
      double tr2 = reml ? (df + trPP - 2.0 * trP) / (lam * lam) : sc.s_dh2;
      v.d2 = 0.5 * tr2 -
             0.5 * df * (2.0 * yPKPKPy * Pyy - yPKPy * yPKPy) / (Pyy * Pyy);
    }
  }
  v.ok = Pyy > 0 && (!need_f || std::isfinite(v.f)) &&
         (!need_d1 || std::isfinite(v.d1)) && (!need_d2 || std::isfinite(v.d2));
  return v;
}

// Sums over i of h_i^r w_i (h = 1 / (1 + lambda d), r = 1..3) for fixed
// columns w, as functions of lambda: on each region of the search grid a
// Chebyshev series in t = log(lambda). Each sum is a combination of terms
// 1 / (1 + e^(t + log d_i))^r, analytic in t up to |Im t| = pi, so on a
// region of width log(10) in t the series converges like 5.6^-N; with N = 40
// terms it reproduces the direct sums to double rounding (checked against
// them in the tests) at O(N) cost instead of O(n).
class FixedSums {
 public:
  FixedSums(const Eigen::VectorXd& d, const Eigen::MatrixXd& P,
            const std::vector<double>& grid)
      : q_(P.cols()), nreg_(grid.size() - 1), tmin_(std::log(grid.front())),
        tmax_(std::log(grid.back())) {
    step_ = (tmax_ - tmin_) / nreg_;
    const int nf = 3 * q_;
    coef_.assign(static_cast<size_t>(nreg_) * kDeg * nf, 0.0);
    std::vector<double> f(static_cast<size_t>(kDeg) * nf), buf(nf);
    for (int r = 0; r < nreg_; ++r) {
      const double mid = tmin_ + (r + 0.5) * step_, half = 0.5 * step_;
      for (int k = 0; k < kDeg; ++k) {
        const double x = std::cos(M_PI * (k + 0.5) / kDeg);
        SpectralScalars sc;
        spectral_sums(d.data(), d.size(), std::exp(mid + half * x), P.data(),
                      P.rows(), q_, 3, false, buf.data(), sc);
        std::copy(buf.begin(), buf.end(), f.begin() + static_cast<size_t>(k) * nf);
      }
      double* c = &coef_[static_cast<size_t>(r) * kDeg * nf];
      for (int m = 0; m < kDeg; ++m) {
        double* cm = c + static_cast<size_t>(m) * nf;
        for (int k = 0; k < kDeg; ++k) {
          const double w = std::cos(M_PI * m * (k + 0.5) / kDeg) * (m == 0 ? 1.0 : 2.0) / kDeg;
          const double* fk = &f[static_cast<size_t>(k) * nf];
          for (int e = 0; e < nf; ++e) cm[e] += w * fk[e];
        }
      }
    }
  }
  int columns() const { return q_; }
  // out[r * q + p] = sum_i h_i^(r + 1) P(i, p); false outside the grid
  bool at(double lam, double* out) const {
    const double t = std::log(lam);
    if (!(t >= tmin_ && t <= tmax_)) return false;
    int r = static_cast<int>((t - tmin_) / step_);
    if (r >= nreg_) r = nreg_ - 1;
    const double x = (t - (tmin_ + (r + 0.5) * step_)) / (0.5 * step_);
    const int nf = 3 * q_;
    const double* c = &coef_[static_cast<size_t>(r) * kDeg * nf];
    double b1[3 * kMaxPairs], b2[3 * kMaxPairs];
    for (int e = 0; e < nf; ++e) b1[e] = b2[e] = 0.0;
    for (int m = kDeg - 1; m >= 1; --m) {  // Clenshaw
      const double* cm = c + static_cast<size_t>(m) * nf;
      for (int e = 0; e < nf; ++e) {
        const double b0 = cm[e] + 2.0 * x * b1[e] - b2[e];
        b2[e] = b1[e];
        b1[e] = b0;
      }
    }
    for (int e = 0; e < nf; ++e) out[e] = c[e] + x * b1[e] - b2[e];
    return true;
  }
  static const int kMaxPairs = kMaxK * (kMaxK + 1) / 2;

 private:
  static const int kDeg = 40;
  int q_, nreg_;
  double tmin_, tmax_, step_;
  std::vector<double> coef_;  // [region][term][function]
};

// Weighted sums of all column pairs of A, kept as product columns in Pm.
// With first >= 0, the pairs involving column `first` (the SNP, whose column
// changes) come first, and the others' sums can be taken from a FixedSums.
class PairSums {
 public:
  PairSums(const Eigen::VectorXd& d, int k, int first = -1)
      : d_(d), k_(k), nvar_(0), fixed_(NULL) {
    if (k > kMaxK)
      throw std::runtime_error("too many covariates for the spectral scan (at most " + std::to_string(kMaxK - 2) + ")");
    idx_.resize(k * k);
    int c = 0;
    if (first >= 0 && first < k) {
      for (int b = 0; b < k; ++b) idx_[first * k + b] = idx_[b * k + first] = c++;
      nvar_ = c;
    }
    for (int a = 0; a < k; ++a)
      for (int b = a; b < k; ++b) {
        if (a == first || b == first) continue;
        idx_[a * k + b] = idx_[b * k + a] = c++;
      }
    Pm_.resize(d.size(), c);
  }
  int pair(int a, int b) const { return idx_[a * k_ + b]; }
  int npair() const { return Pm_.cols(); }
  void set_column(const Eigen::MatrixXd& A, int a) {
    for (int b = 0; b < k_; ++b)
      Pm_.col(pair(a, b)) = A.col(a).cwiseProduct(A.col(b));
  }
  void set_all(const Eigen::MatrixXd& A) {
    for (int a = 0; a < k_; ++a) set_column(A, a);
  }
  // the product columns of the pairs without column `first`
  Eigen::MatrixXd fixed_columns() const { return Pm_.rightCols(Pm_.cols() - nvar_); }
  void use_fixed(const FixedSums* f) {
    if (f != NULL && f->columns() != Pm_.cols() - nvar_)
      throw std::runtime_error("fixed sums do not match the pairs");
    fixed_ = f;
  }
  // Gram matrices at lambda (powers 1..3) and the scalar sums
  void at(double lam, int powers, bool need_log, SMat& G1, SMat& G2, SMat& G3,
          Scalars& sc) {
    const int np = Pm_.cols();
    sums_.resize(3 * np);
    double fx[3 * FixedSums::kMaxPairs];
    if (fixed_ != NULL && fixed_->at(lam, fx)) {
      const int nf = np - nvar_;
      var_.resize(3 * std::max(1, nvar_));
      spectral_sums(d_.data(), d_.size(), lam, Pm_.data(), Pm_.rows(), nvar_,
                    powers, need_log, var_.data(), sc);
      for (int r = 0; r < powers; ++r) {
        for (int p = 0; p < nvar_; ++p) sums_[r * np + p] = var_[r * nvar_ + p];
        for (int p = 0; p < nf; ++p) sums_[r * np + nvar_ + p] = fx[r * nf + p];
      }
    } else {
      spectral_sums(d_.data(), d_.size(), lam, Pm_.data(), Pm_.rows(), np, powers,
                    need_log, sums_.data(), sc);
    }
    fill(G1, 0);
    if (powers > 1) fill(G2, 1);
    if (powers > 2) fill(G3, 2);
  }
  // unweighted Gram matrix
  void unweighted(SMat& G0) {
    Eigen::VectorXd s = Pm_.colwise().sum().transpose();
    G0.resize(k_, k_);
    for (int a = 0; a < k_; ++a)
      for (int b = a; b < k_; ++b) G0(a, b) = G0(b, a) = s[pair(a, b)];
  }

 private:
  void fill(SMat& G, int r) {
    const int np = Pm_.cols();
    G.resize(k_, k_);
    for (int a = 0; a < k_; ++a)
      for (int b = a; b < k_; ++b) G(a, b) = G(b, a) = sums_[r * np + pair(a, b)];
  }
  const Eigen::VectorXd& d_;
  int k_, nvar_;
  const FixedSums* fixed_;
  std::vector<int> idx_;
  Eigen::MatrixXd Pm_;
  std::vector<double> sums_, var_;
};

double logdet_spd(const SMat& G, int nx) {
  if (nx == 0) return 0.0;
  Eigen::LLT<SMat> l(G.topLeftCorner(nx, nx));
  if (l.info() != Eigen::Success) return kNaN;
  double s = 0.0;
  for (int j = 0; j < nx; ++j) s += 2.0 * std::log(l.matrixL()(j, j));
  return s;
}

// Evaluate (f, d1, d2) at an arbitrary lambda
typedef std::function<LikValue(double, bool, bool)> EvalFun;  // lam, need_f, need_d2

// Root of d1 in [lo, hi] (d1(lo) >= 0 >= d1(hi)), Newton in t = log(lambda)
// safeguarded by bisection, started at `start` if it lies inside. Every
// evaluation also gives f, so the root's f comes without another evaluation:
// the iteration stops at the first iterate whose Newton step is below 1e-7
// (the iterate's relative error in lambda is about that step).
bool find_root(const EvalFun& fun, double lo, double hi, double dlo,
               double dhi, double start, double& root, double& froot,
               const LikValue* at_start = NULL) {
  double a = std::log(lo), b = std::log(hi);
  double t;
  if (dlo == 0.0) t = a;
  else if (dhi == 0.0) t = b;
  else if (start > lo && start < hi) t = std::log(start);
  else {  // secant on g = lambda * d1 in t
    double ga = lo * dlo, gb = hi * dhi;
    t = a - ga * (b - a) / (gb - ga);
    if (!(t > a && t < b)) t = 0.5 * (a + b);
  }
  const bool use_pre = at_start != NULL && start > lo && start < hi;
  for (int it = 0; it < 200; ++it) {
    double lam = (it == 0 && use_pre) ? start : std::exp(t);
    LikValue v = (it == 0 && use_pre) ? *at_start : fun(lam, true, true);
    if (!v.ok) return false;
    root = lam;
    froot = v.f;
    if (v.d1 == 0.0 || dlo == 0.0 || dhi == 0.0) return true;
    if (v.d1 > 0.0) a = t; else b = t;
    double g = lam * v.d1, gp = lam * v.d1 + lam * lam * v.d2;
    double tn = t - g / gp;
    bool newton = std::isfinite(tn) && tn > a && tn < b;
    if (newton && std::fabs(tn - t) < 1e-7) return true;
    if (!newton) tn = 0.5 * (a + b);
    if ((b - a) < 1e-13) return true;
    t = tn;
  }
  return std::isfinite(root);
}

// GEMMA's search given the derivative at the grid points and f at the ends.
bool maximize(const EvalFun& fun, const std::vector<double>& grid,
              const std::vector<double>& dg, double f_lo, double f_hi,
              double start, double& lam_best, double& f_best,
              const LikValue* at_start = NULL) {
  const int nr = grid.size() - 1;
  bool have = false;
  double lb = kNaN, fb = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < nr; ++i) {
    if (!(dg[i] >= 0.0 && dg[i + 1] <= 0.0)) continue;
    double root, froot;
    if (!find_root(fun, grid[i], grid[i + 1], dg[i], dg[i + 1], start, root,
                   froot, at_start))
      return false;
    if (!have || froot > fb) {
      lb = root;
      fb = froot;
      have = true;
    }
  }
  if (!have) {
    if (f_lo >= f_hi) { lam_best = grid[0]; f_best = f_lo; }
    else { lam_best = grid[nr]; f_best = f_hi; }
    return std::isfinite(f_best);
  }
  if (f_lo > fb) { lb = grid[0]; fb = f_lo; }
  if (f_hi > fb) { lb = grid[nr]; fb = f_hi; }
  lam_best = lb;
  f_best = fb;
  return std::isfinite(fb);
}

// ---- GEMMA's search (see the top of the file) ----

// The state of a Brent-Dekker bracketing search for a zero of g on [a, b]
// (Brent 1973, ch. 4): b is the best iterate, c the other end of the bracket,
// d and e the last two steps. step() makes one inverse-interpolation or
// bisection step and reports the new bracket.
struct BrentZero {
  double a, b, c, d, e, fa, fb, fc;
  BrentZero(double lo, double hi, double glo, double ghi)
      : a(lo), b(hi), c(hi), d(hi - lo), e(hi - lo), fa(glo), fb(ghi), fc(ghi) {}
  static bool same_sign(double u, double v) {
    return (u < 0 && v < 0) || (u > 0 && v > 0);
  }
  // returns false when g fails; root, lower, upper as after the step
  bool step(const std::function<bool(double, double&)>& g, double& root,
            double& lower, double& upper) {
    bool interp_from_two = false;
    if (same_sign(fb, fc)) {
      interp_from_two = true;
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      interp_from_two = true;
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const double tol = 0.5 * DBL_EPSILON * std::fabs(b);
    const double m = 0.5 * (c - b);
    if (fb == 0 || std::fabs(m) <= tol) {
      root = b;
      lower = fb == 0 ? b : std::min(b, c);
      upper = fb == 0 ? b : std::max(b, c);
      return true;
    }
    if (std::fabs(e) < tol || std::fabs(fa) <= std::fabs(fb)) {
      d = e = m;  // bisection
    } else {
      double p, q, r, s = fb / fa;
      if (interp_from_two) {  // secant
        p = 2 * m * s;
        q = 1 - s;
      } else {  // inverse quadratic interpolation
        q = fa / fc;
        r = fb / fc;
        p = s * (2 * m * q * (q - r) - (b - a) * (r - 1));
        q = (q - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (2 * p < std::min(3 * m * q - std::fabs(tol * q), std::fabs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = e = m;
      }
    }
    a = b;
    fa = fb;
    b += std::fabs(d) > tol ? d : (m > 0 ? tol : -tol);
    if (!g(b, fb)) return false;
    root = b;
    const double cc = same_sign(fb, fc) ? a : c;
    lower = std::min(b, cc);
    upper = std::max(b, cc);
    return true;
  }
};

// GEMMA's CalcLambda given the derivative at the grid points and f at the
// ends. Returns false (lambda NaN) where GEMMA's search fails.
bool maximize_gemma(const EvalFun& fun, const std::vector<double>& grid,
                    const std::vector<double>& dg, double f_lo, double f_hi,
                    double& lam_best, double& f_best) {
  const int nr = grid.size() - 1;
  const double lmin = grid[0], lmax = grid[nr];
  const int max_iter = 100;
  std::function<bool(double, double&)> g = [&](double lam, double& d1) {
    LikValue v = fun(lam, false, false);
    d1 = v.d1;
    return std::isfinite(v.d1);
  };
  bool have = false;
  double lb = kNaN, fb = kNaN;
  int iter = 0;  // as in GEMMA, the Brent count continues from Newton's
  for (int i = 0; i < nr; ++i) {
    if (!(dg[i] * dg[i + 1] <= 0)) continue;
    BrentZero bz(grid[i], grid[i + 1], dg[i], dg[i + 1]);
    double l = 0.5 * (grid[i] + grid[i + 1]), lo = grid[i], hi = grid[i + 1];
    do {
      ++iter;
      if (!bz.step(g, l, lo, hi)) return false;
    } while (!(std::fabs(hi - lo) < 0.1 * std::min(std::fabs(lo), std::fabs(hi))) &&
             iter < max_iter);
    // Newton steps on the derivative, in lambda
    iter = 0;
    LikValue v = fun(l, true, true);
    if (!v.ok) return false;
    double l_prev = l, f_prev = v.f;
    bool converged = false;
    do {
      ++iter;
      if (v.d2 == 0.0) return false;
      double l_new = l - v.d1 / v.d2;
      LikValue vn = fun(l_new, true, true);
      if (!std::isfinite(vn.d1) || !std::isfinite(vn.d2)) return false;
      l_prev = l;
      f_prev = v.f;
      l = l_new;
      v = vn;
      converged = std::fabs(l - l_prev) < 1e-5 * std::fabs(l) || l == l_prev;
    } while (!converged && iter < max_iter && l > lmin && l < lmax);
    if (!converged) return false;
    double lr = l_prev, fr = f_prev;
    if (lr < lmin || lr > lmax) {
      lr = lr < lmin ? lmin : lmax;
      fr = fun(lr, true, false).f;
    }
    if (!std::isfinite(fr)) return false;
    if (!have || fb < fr) {
      lb = lr;
      fb = fr;
      have = true;
    }
  }
  if (!have) {
    if (f_lo >= f_hi) { lam_best = lmin; f_best = f_lo; }
    else { lam_best = lmax; f_best = f_hi; }
    return std::isfinite(f_best);
  }
  if (f_lo > fb) { lb = lmin; fb = f_lo; }
  if (f_hi > fb) { lb = lmax; fb = f_hi; }
  lam_best = lb;
  f_best = fb;
  return true;
}


std::vector<double> make_grid(double lmin, double lmax, int nregion) {
  std::vector<double> g(nregion + 1);
  const double step = std::log(lmax / lmin) / nregion;
  for (int i = 0; i <= nregion; ++i) g[i] = lmin * std::exp(step * i);
  g[nregion] = lmax;
  return g;
}

}  // namespace
}  // namespace lemma

using namespace lemma;

// The null model's rotated [X y] as pair sums over the eigenvalues held by ps;
// returns log|X'X|. Shared by the null fit and lmm()'s spectral path.
static double set_null_pair_sums(PairSums& ps, int n, const Eigen::Map<Eigen::MatrixXd>& UtX,
                                 const Eigen::Map<Eigen::VectorXd>& Uty) {
  const int p = UtX.cols();
  if (UtX.rows() != n || Uty.size() != n)
    throw std::runtime_error("dimensions of the rotated data do not match");
  Eigen::MatrixXd A(n, p + 1);
  A.leftCols(p) = UtX;
  A.col(p) = Uty;
  ps.set_all(A);
  SMat G0;
  ps.unweighted(G0);
  const double logdet0 = logdet_spd(G0, p);
  if (!std::isfinite(logdet0)) throw std::runtime_error("X'X is singular");
  return logdet0;
}

// Null model fit by the spectral method. UtX: rotated X (n x p), Uty: rotated
// y, d: eigenvalues. Returns lambda, GEMMA's log-likelihood at lambda, beta,
// (X'H^-1X)^-1, y'Py and log|X'X|.
// [[Rcpp::export(.spectral_null, rng = false)]]
Rcpp::List spectral_null_cpp(Eigen::Map<Eigen::VectorXd> d_,
                             Eigen::Map<Eigen::MatrixXd> UtX,
                             Eigen::Map<Eigen::VectorXd> Uty, bool reml,
                             double lmin, double lmax, int nregion,
                             bool gemma_search = false) {
  const int n = d_.size(), p = UtX.cols();
  Eigen::VectorXd d = d_;
  PairSums ps(d, p + 1);
  const double logdet0 = set_null_pair_sums(ps, n, UtX, Uty);
  SMat G1, G2, G3;
  EvalFun fun = [&](double lam, bool need_f, bool need_d2) {
    Scalars sc;
    ps.at(lam, need_d2 ? 3 : 2, need_f, G1, G2, G3, sc);
    return lik_from(G1, G2, G3, sc, lam, n, p, p, logdet0, reml, need_f, true,
                    need_d2);
  };
  std::vector<double> grid = make_grid(lmin, lmax, nregion), dg(grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    LikValue v = fun(grid[i], false, false);
    if (!v.ok) throw std::runtime_error("non-finite likelihood derivative in the lambda search");
    dg[i] = v.d1;
  }
  LikValue vl = fun(lmin, true, false), vh = fun(lmax, true, false);
  double lam, f;
  bool found = gemma_search
                   ? maximize_gemma(fun, grid, dg, vl.f, vh.f, lam, f)
                   : maximize(fun, grid, dg, vl.f, vh.f, kNaN, lam, f);
  if (!found)
    throw std::runtime_error("the search for the variance ratio met non-finite values");
  Scalars sc;
  ps.at(lam, 1, false, G1, G2, G3, sc);
  Eigen::LLT<SMat> llt(G1.topLeftCorner(p, p));
  if (llt.info() != Eigen::Success)
    throw std::runtime_error("X'H^-1X is not positive definite");
  SVec beta = llt.solve(G1.col(p).head(p));
  Eigen::MatrixXd C = llt.solve(SMat::Identity(p, p));
  double Pyy = G1(p, p) - G1.col(p).head(p).dot(beta);
  Eigen::VectorXd b = beta;
  return Rcpp::List::create(
      Rcpp::Named("lambda") = lam, Rcpp::Named("logl") = f,
      Rcpp::Named("beta") = Rcpp::wrap(b), Rcpp::Named("C") = Rcpp::wrap(C),
      Rcpp::Named("Pyy") = Pyy, Rcpp::Named("logdetXtX") = logdet0);
}

// ---- lmm()'s spectral path: the same likelihood at a given lambda ----
// The profiled criterion in lme4's convention (REML: -2 log L_R with
// log|X'H^-1X| but without -log|X'X|; ML: the deviance) at lambda = theta^2,
// from lik_from() as in the scan and the null fit. With full = TRUE also the
// pieces of the solution lmm_object() needs: ldL2 = log|H|, ldRX2 =
// log|X'H^-1X|, pwrss = y'Py, beta and RX (lower Cholesky factor of
// X'H^-1X), H = I + lambda D.
// [[Rcpp::export(.spectral_at, rng = false)]]
Rcpp::List spectral_at_cpp(Eigen::Map<Eigen::VectorXd> d_,
                           Eigen::Map<Eigen::MatrixXd> UtX,
                           Eigen::Map<Eigen::VectorXd> Uty, double lam, bool reml,
                           bool full) {
  const int n = d_.size(), p = UtX.cols();
  if (!(lam >= 0.0) || !std::isfinite(lam))
    throw std::runtime_error("the variance ratio must be finite and non-negative");
  Eigen::VectorXd d = d_;
  PairSums ps(d, p + 1);
  const double logdet0 = set_null_pair_sums(ps, n, UtX, Uty);
  SMat G1, G2, G3;
  Scalars sc;
  ps.at(lam, 1, true, G1, G2, G3, sc);
  LikValue v = lik_from(G1, G2, G3, sc, lam, n, p, p, logdet0, reml, true, false,
                        false);
  const double crit = -2.0 * v.f + (reml ? logdet0 : 0.0);
  if (!full) return Rcpp::List::create(Rcpp::Named("crit") = crit);
  Eigen::LLT<SMat> llt(G1.topLeftCorner(p, p));
  if (llt.info() != Eigen::Success)
    throw std::runtime_error("X'H^-1X is not positive definite");
  SVec beta = llt.solve(G1.col(p).head(p));
  Eigen::MatrixXd RX = llt.matrixL();
  double ldRX2 = 0.0;
  for (int j = 0; j < p; ++j) ldRX2 += 2.0 * std::log(RX(j, j));
  const double pwrss = G1(p, p) - G1.col(p).head(p).dot(beta);
  Eigen::VectorXd b = beta;
  return Rcpp::List::create(
      Rcpp::Named("crit") = crit, Rcpp::Named("ldL2") = sc.logdet,
      Rcpp::Named("ldRX2") = ldRX2, Rcpp::Named("pwrss") = pwrss,
      Rcpp::Named("beta") = Rcpp::wrap(b), Rcpp::Named("RX") = Rcpp::wrap(RX));
}

// One chunk of the scan. G: dosages (n x B, NA missing) of the analysed
// individuals, in the order of the rows of U. W: covariates (n x c, original
// scale) for GEMMA's r2 filter; UtW, Uty: rotated covariates and phenotype.
// The kept SNPs are processed in blocks of kBlockSnps, spread over `threads`
// OpenMP threads; each block is rotated by its own single-threaded product
// (the caller sets the BLAS to one thread), so every SNP's numbers are the
// same whatever the number of threads.
// Columns of the result:
//  0 status (0 tested, 1 missingness, 2 maf, 3 fewer than two genotype
//    classes, 4 r2 with covariates, 5 numerical failure)
//  1 n_miss, 2 af, 3 beta, 4 se, 5 logl_H1 (ML), 6 l_remle, 7 l_mle,
//  8 F wald, 9 F score, 10 logl_H1 (REML, GEMMA's convention),
//  11 rotated in double after a single-precision pass (1) or not (0)
// fill(j, x): dosages of SNP j of the chunk (n values, NaN missing); called
// from several threads at once.
typedef std::function<void(int, double*)> GenoFill;

// The scan's settings, read from the R list built by lmm_scan() (its `ctx`).
struct ScanOptions {
  bool do_wald, do_lrt, do_score, exact, use_blas, gemma_search, mixed;
  double lam_null_ml, lam_null_reml, maf, miss, r2, lmin, lmax;
  int nregion, threads;
  explicit ScanOptions(const Rcpp::List& ctx)
      : do_wald(Rcpp::as<bool>(ctx["do_wald"])),
        do_lrt(Rcpp::as<bool>(ctx["do_lrt"])),
        do_score(Rcpp::as<bool>(ctx["do_score"])),
        exact(Rcpp::as<bool>(ctx["exact"])),
        use_blas(Rcpp::as<bool>(ctx["use_blas"])),
        gemma_search(Rcpp::as<bool>(ctx["gemma_search"])),
        mixed(Rcpp::as<bool>(ctx["mixed"])),
        lam_null_ml(Rcpp::as<double>(ctx["lam_ml"])),
        lam_null_reml(Rcpp::as<double>(ctx["lam_reml"])),
        maf(Rcpp::as<double>(ctx["maf"])),
        miss(Rcpp::as<double>(ctx["miss"])),
        r2(Rcpp::as<double>(ctx["r2"])),
        lmin(Rcpp::as<double>(ctx["lmin"])),
        lmax(Rcpp::as<double>(ctx["lmax"])),
        nregion(Rcpp::as<int>(ctx["nregion"])),
        threads(std::max(1, Rcpp::as<int>(ctx["threads"]))) {}
};

// ---- single-precision rotation (precision = "mixed") ----

// UfT = U' in single precision, by tiles (both matrices n x n).
void transpose_to_float(const Eigen::Map<Eigen::MatrixXd>& U, Eigen::MatrixXf& UfT,
                        int threads) {
  const int n = U.rows(), T = 64;
  UfT.resize(n, n);
  const int nt = (n + T - 1) / T;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int jb = 0; jb < nt; ++jb)
    for (int ib = 0; ib < nt; ++ib)
      for (int j = jb * T; j < std::min(n, (jb + 1) * T); ++j)
        for (int i = ib * T; i < std::min(n, (ib + 1) * T); ++i)
          UfT(j, i) = static_cast<float>(U(i, j));
}

// UtX = U' X for a block of SNPs, the O(n^2) product in single precision:
// UtX = U'(X - 1 mu') + Ut1 mu', with mu the SNPs' means (so that the
// mean-imputed dosages are exact zeros) and Ut1 = U'1 in double. Centred, the
// float product's partial sums stay small: its error is the rounding of U
// and of the centred dosages to floats and of the float sums (~1e-7 sqrt(n)
// of the column's norm, typically; measured per SNP by float_needs_redo).
void rotate_mixed(const Eigen::MatrixXf& UfT, const Eigen::VectorXd& Ut1,
                  const Eigen::MatrixXd& X, const std::vector<double>& mu,
                  Eigen::MatrixXd& UtX, bool use_blas, Eigen::MatrixXf& Xf,
                  Eigen::MatrixXf& Pf) {
  const int n = X.rows(), B = X.cols();
  Xf.resize(n, B);
  for (int t = 0; t < B; ++t) {
    const double* x = X.col(t).data();
    float* f = Xf.col(t).data();
    for (int i = 0; i < n; ++i) f[i] = static_cast<float>(x[i] - mu[t]);
  }
  float_product_into(UfT, Xf, Pf, use_blas);
  UtX.resize(n, B);
  for (int t = 0; t < B; ++t) {
    const float* p = Pf.col(t).data();
    double* o = UtX.col(t).data();
    for (int i = 0; i < n; ++i) o[i] = static_cast<double>(p[i]) + mu[t] * Ut1[i];
  }
}

Rcpp::NumericMatrix scan_core(const Eigen::Map<Eigen::MatrixXd>& U,
                              const Eigen::Map<Eigen::VectorXd>& d_,
                              const Eigen::Map<Eigen::MatrixXd>& W,
                              const Eigen::Map<Eigen::MatrixXd>& UtW,
                              const Eigen::Map<Eigen::VectorXd>& Uty, int B,
                              const GenoFill& fill, const ScanOptions& opt) {
  const bool do_wald = opt.do_wald, do_lrt = opt.do_lrt, do_score = opt.do_score,
             exact = opt.exact, use_blas = opt.use_blas,
             gemma_search = opt.gemma_search;
  const double lam_null_ml = opt.lam_null_ml, lam_null_reml = opt.lam_null_reml,
               maf = opt.maf, miss = opt.miss, r2 = opt.r2;
  const int threads = opt.threads;
  const int n = d_.size(), c = UtW.cols();
  if (U.rows() != n || W.rows() != n)
    throw std::runtime_error("the rotation does not match the individuals");
  if (c + 2 > kMaxK)
    throw std::runtime_error("too many covariates for the spectral scan (at most " + std::to_string(kMaxK - 2) + ")");
  const Eigen::VectorXd d = d_;
  const int NC = 12;
  Rcpp::NumericMatrix out(B, NC);
  std::fill(out.begin(), out.end(), NA_REAL);
  double* outp = &out(0, 0);
  auto put = [&](int j, int col, double v) { outp[j + static_cast<long>(col) * B] = v; };

  // ---- filters (GEMMA's defaults) and mean imputation, per SNP ----
  Eigen::MatrixXd WtW = W.transpose() * W;
  Eigen::LDLT<Eigen::MatrixXd> wtw(WtW);
  // (the dosages are decoded again per block below: no n x B buffer, so the
  // memory is O(n x block) per thread whatever the chunk size)
  std::vector<int> status(B, 0);
  std::vector<double> snp_mean(B, kNaN);
#pragma omp parallel num_threads(threads)
  {
    std::vector<double> xbuf(n);
#pragma omp for schedule(static)
    for (int j = 0; j < B; ++j) {
      double* xv = xbuf.data();
      fill(j, xv);
      SnpStats s = snp_stats(xv, n);
      snp_mean[j] = s.mean;
      put(j, 1, s.n_miss);
      put(j, 2, std::isnan(s.af) ? NA_REAL : s.af);
      int st = 0;
      if (s.n_miss == n || static_cast<double>(s.n_miss) / n > miss) st = 1;
      else if (s.af < maf || s.af > 1.0 - maf) st = 2;
      else if (s.n_class < 2) st = 3;
      if (st == 0) {
        for (int i = 0; i < n; ++i) if (std::isnan(xv[i])) xv[i] = s.mean;
        if (c > 1) {
          Eigen::Map<const Eigen::VectorXd> x(xv, n);
          Eigen::VectorXd Wtx = W.transpose() * x;
          double vw = Wtx.dot(wtw.solve(Wtx)), vx = x.squaredNorm();
          if (vw / vx > r2) st = 4;
        }
      }
      status[j] = st;
      put(j, 0, st);
    }
  }
  std::vector<int> keep;
  keep.reserve(B);
  for (int j = 0; j < B; ++j) if (status[j] == 0) keep.push_back(j);
  const int nk = keep.size();
  if (nk == 0) return out;
  Rcpp::checkUserInterrupt();

  // ---- shared by all SNPs: grid, null lambdas, unweighted ----
  const int k = c + 2, xs = c, yc = c + 1;
  Eigen::MatrixXd A0(n, k);
  A0.leftCols(c) = UtW;
  A0.col(yc) = Uty;
  A0.col(xs).setZero();
  std::vector<double> grid = make_grid(opt.lmin, opt.lmax, opt.nregion);
  const int ng = grid.size();
  std::vector<double> lams(grid);
  lams.push_back(lam_null_ml);    // index ng
  lams.push_back(lam_null_reml);  // index ng + 1
  const int nl = lams.size();
  // Hb columns: ones, then h_l, h_l^2 for each lambda, plus h^3 at the two
  // null lambdas (columns 1 + 2 nl, 2 + 2 nl), so that the exact search's
  // first Newton step, from the null lambda, is free
  Eigen::MatrixXd Hb(n, 3 + 2 * nl);
  Hb.col(0).setOnes();
  std::vector<Scalars> scal(nl);
  for (int l = 0; l < nl; ++l) {
    // the scalar sums from the likelihood kernel (no columns)
    spectral_sums(d.data(), n, lams[l], NULL, n, 0, 3, true, NULL, scal[l]);
    Eigen::ArrayXd h = 1.0 / (1.0 + lams[l] * d.array());
    Hb.col(1 + 2 * l) = h;
    Hb.col(2 + 2 * l) = h * h;
    if (l >= ng) Hb.col(1 + 2 * nl + (l - ng)) = h * h * h;
  }
  const int nc = Hb.cols();
  // sums of the pairs not involving the SNP, at every shared lambda
  std::vector<std::pair<int, int> > shared_pairs;
  for (int a = 0; a < k; ++a)
    for (int b = a; b < k; ++b)
      if (a != xs && b != xs) shared_pairs.push_back(std::make_pair(a, b));
  Eigen::MatrixXd Sshared;  // npair_sh x nc
  {
    Eigen::MatrixXd Pshared(n, shared_pairs.size());
    for (size_t q = 0; q < shared_pairs.size(); ++q)
      Pshared.col(q) = A0.col(shared_pairs[q].first).cwiseProduct(A0.col(shared_pairs[q].second));
    crossprod_into(Pshared, Hb, Sshared, use_blas);
  }
  // a .* Hb for the covariates and y: the SNP's pair sums with them, for all
  // SNPs of a block at once, are UtG' (a .* Hb)
  std::vector<int> slot(k, -1);
  Eigen::MatrixXd HbA(n, (k - 1) * nc);
  {
    int q = 0;
    for (int a = 0; a < k; ++a) {
      if (a == xs) continue;
      HbA.middleCols(q * nc, nc) = Hb.array().colwise() * A0.col(a).array();
      slot[a] = q++;
    }
  }
  const double dfw = static_cast<double>(n - c - 1);

  // ---- blocks of kept SNPs over threads ----
  // SNPs per block: OpenBLAS's product U'X reaches its speed at about 128
  // columns for n ~ 1,000 but needs ~512 for n ~ 5,000 (measured: 29 against
  // 42 GFlops on one core)
  const int kBlockSnps = n >= 2000 ? 512 : 128;
  Eigen::MatrixXf UfT;  // U' in single precision, for rotate_mixed
  Eigen::VectorXd Ut1;  // U'1
  // The float rotation's error e = x~ - U'x of a SNP is measured at the two
  // null lambdas (ML, REML; h their weights, W~ the rotated covariates):
  // * exactly along h .* a for a = covariates and y: x' U (h .* a) (x' Vnull)
  //   against x~'(h .* a), which gives the error of x'Py exactly;
  // * in H-norm after the covariates are projected out (Q = I - W~ (W~'H
  //   W~)^-1 W~'H), which bounds the error of x'Px: s_j = Q'H^1/2 z_j for kProbes
  //   standard normal z_j, so that e's_j ~ N(0, ||H^1/2 Q e||^2) (a
  //   randomized norm estimate with fixed seeds), exact as x' U s_j.
  // Columns of Vnull: per null lambda, the k - 1 of h .* a, then the probes.
  Eigen::MatrixXd Vnull, Fsel;  // U Fsel, Fsel (rotated space)
  const int kProbes = 8, nv = (k - 1) + kProbes;
  if (opt.mixed) {
    transpose_to_float(U, UfT, threads);
    Ut1 = U.transpose() * Eigen::VectorXd::Ones(n);
    Fsel.resize(n, 2 * nv);
    std::mt19937 rng(20261202u);
    std::normal_distribution<double> norm01;
    for (int li = 0; li < 2; ++li) {
      const Eigen::ArrayXd h = Hb.col(1 + 2 * (ng + li)).array();
      for (int a = 0; a < k; ++a)
        if (a != xs) Fsel.col(li * nv + slot[a]) = HbA.col(slot[a] * nc + 1 + 2 * (ng + li));
      const Eigen::MatrixXd Wt = A0.leftCols(c);
      const Eigen::MatrixXd HW = (Wt.array().colwise() * h).matrix();
      Eigen::LDLT<Eigen::MatrixXd> m(Wt.transpose() * HW);
      for (int q = 0; q < kProbes; ++q) {
        Eigen::VectorXd z(n);
        for (int i = 0; i < n; ++i) z[i] = norm01(rng);
        Eigen::VectorXd hz = (h.sqrt() * z.array()).matrix();
        Eigen::VectorXd s_ = hz;
        if (c > 0) s_ -= HW * m.solve(Wt.transpose() * hz);
        Fsel.col(li * nv + (k - 1) + q) = s_;
      }
    }
    Vnull.noalias() = U * Fsel;
  }
  // the sums of the pairs without the SNP, as functions of lambda, for the
  // per-SNP searches (LEMMA_FIXED_SUMS=0 turns them off, for checks)
  const char* fs_env = std::getenv("LEMMA_FIXED_SUMS");
  // (and not for unusually many regions, whose series would cost more than
  // they save)
  const bool use_fixed = exact && (do_wald || do_lrt) && opt.nregion <= 100 &&
                         !(fs_env != NULL && std::string(fs_env) == "0");
  PairSums ps0(d, k, xs);
  ps0.set_all(A0);
  const FixedSums fixed(d, use_fixed ? ps0.fixed_columns() : Eigen::MatrixXd(n, 0),
                        use_fixed ? grid : std::vector<double>{grid.front(), grid.back()});
  std::string error;
  // phase 0: all kept SNPs, rotated in single precision if opt.mixed; phase 1:
  // the SNPs of phase 0 whose measured rotation error could show in the
  // results (or whose search failed), all together in blocks, in double
  std::vector<int> redo_all;
  for (int phase = 0; phase < 2; ++phase) {
  const std::vector<int>& list = phase == 0 ? keep : redo_all;
  const int nlist = list.size();
  const int nblocks = (nlist + kBlockSnps - 1) / kBlockSnps;
  const bool in_float = phase == 0 && opt.mixed;
#pragma omp parallel num_threads(threads)
  {
    // per-thread workspace
    Eigen::MatrixXd Xb, UtG, Sxa, Sxx, sq, Ex, Fx;
    std::vector<double> mu;
    Eigen::MatrixXf Xf, Pf;
    Eigen::MatrixXd A = A0;
    PairSums ps(d, k, xs);
    ps.set_all(A);
    if (use_fixed) ps.use_fixed(&fixed);
    SMat G0, G1, G2, G3;
    std::vector<double> dml(ng), dre(ng);
#pragma omp for schedule(dynamic, 1)
    for (int blk = 0; blk < nblocks; ++blk) {
      try {
        const int b0 = blk * kBlockSnps;
        std::vector<int> idx(list.begin() + b0,
                             list.begin() + std::min(nlist, b0 + kBlockSnps)),
            redo;
        {
        const int nb = idx.size();
        Xb.resize(n, nb);
        for (int t = 0; t < nb; ++t) {
          const int j = idx[t];
          double* xv = Xb.col(t).data();
          fill(j, xv);
          for (int i = 0; i < n; ++i) if (std::isnan(xv[i])) xv[i] = snp_mean[j];
          if (phase > 0)
            for (int q = 3; q < NC - 1; ++q) put(j, q, NA_REAL);
          if (phase > 0) put(j, 0, 0);
          put(j, NC - 1, phase);
        }
        if (in_float) {
          mu.resize(nb);
          for (int t = 0; t < nb; ++t) mu[t] = snp_mean[idx[t]];
          rotate_mixed(UfT, Ut1, Xb, mu, UtG, use_blas, Xf, Pf);
          crossprod_into(Xb, Vnull, Ex, use_blas);
          crossprod_into(UtG, Fsel, Fx, use_blas);
        } else {
          crossprod_into(U, Xb, UtG, use_blas);
        }
        crossprod_into(UtG, HbA, Sxa, use_blas);
        sq = UtG.cwiseProduct(UtG);
        crossprod_into(sq, Hb, Sxx, use_blas);
        auto assemble = [&](int kk, int col, SMat& Gm) {
          Gm.resize(k, k);
          for (size_t q = 0; q < shared_pairs.size(); ++q) {
            int a = shared_pairs[q].first, b = shared_pairs[q].second;
            Gm(a, b) = Gm(b, a) = Sshared(q, col);
          }
          for (int a = 0; a < k; ++a) {
            double v = (a == xs) ? Sxx(kk, col) : Sxa(kk, slot[a] * nc + col);
            Gm(xs, a) = Gm(a, xs) = v;
          }
        };
        // covariates-projected quantities from G1 (covariates = first c columns)
        auto projected = [&](const SMat& Gm, double& Pxx, double& Pxy, double& Pyy) {
          Pxx = Gm(xs, xs);
          Pxy = Gm(xs, yc);
          Pyy = Gm(yc, yc);
          if (c > 0) {
            Eigen::LLT<SMat> llt(Gm.topLeftCorner(c, c));
            if (llt.info() != Eigen::Success) return false;
            SVec gx = Gm.col(xs).head(c), gy = Gm.col(yc).head(c);
            SVec bx = llt.solve(gx), by = llt.solve(gy);
            Pxx -= gx.dot(bx);
            Pxy -= gx.dot(by);
            Pyy -= gy.dot(by);
          }
          return std::isfinite(Pxx) && std::isfinite(Pxy) && std::isfinite(Pyy) &&
                 Pxx > 0 && Pyy > 0;
        };
        // Whether the single-precision rotation of SNP kk could show in its
        // results. At both null lambdas: dPxy, the rotation's exact error in
        // x'Py, and eps, a bound on ||H^1/2 Q e|| (kProbeSafety times the
        // probes' root mean square; it fails only if a chi-square(8) / 8
        // falls below 1 / kProbeSafety^2, probability ~1e-8), so that x'Px
        // lies within (sqrt(Pxx) +- eps)^2. t is bounded over Pxy +-
        // kFloatSafety |dPxy| and that range of Pxx; beta is within 1e-4 of its
        // se when t moves by <= 1e-4, and -log10 p within 1e-4 relative when t
        // moves by <= 1e-4 |t| / 2 (its relative error is at most 2 dt / |t|).
        auto float_needs_redo = [&](int kk) {
          for (int li = 0; li < 2; ++li) {
            assemble(kk, 1 + 2 * (ng + li), G1);
            double Pxx, Pxy, Pyy;
            if (!projected(G1, Pxx, Pxy, Pyy)) return true;
            auto err = [&](int col) {
              return Fx(kk, li * nv + col) - Ex(kk, li * nv + col);
            };
            // x'Py = x'H y - x'H W b_y, b_y = (W'HW)^-1 W'H y
            double dPxy = Sxa(kk, slot[yc] * nc + 1 + 2 * (ng + li)) - Ex(kk, li * nv + slot[yc]);
            if (c > 0) {
              Eigen::LLT<SMat> llt(G1.topLeftCorner(c, c));
              if (llt.info() != Eigen::Success) return true;
              SVec by = llt.solve(SVec(G1.col(yc).head(c)));
              for (int a = 0; a < c; ++a)
                dPxy -= by[a] * (Sxa(kk, slot[a] * nc + 1 + 2 * (ng + li)) -
                                 Ex(kk, li * nv + slot[a]));
            }
            double ss = 0.0;
            for (int q = 0; q < kProbes; ++q) ss += err(nv - kProbes + q) * err(nv - kProbes + q);
            const double eps = kProbeSafety * std::sqrt(ss / kProbes);
            auto tval = [&](double pxx, double pxy) {
              return pxy / std::sqrt(pxx * (Pyy - pxy * pxy / pxx) / dfw);
            };
            const double t0 = tval(Pxx, Pxy), rx = std::sqrt(Pxx);
            if (!std::isfinite(t0) || !(eps < rx)) return true;
            double dt = 0.0;
            for (int sx = -1; sx <= 1; sx += 2)
              for (int sy = -1; sy <= 1; sy += 2) {
                const double pxx = (rx + sx * eps) * (rx + sx * eps);
                const double t1 = tval(pxx, Pxy + sy * kFloatSafety * std::fabs(dPxy));
                dt = std::max(dt, std::fabs(t1 - t0));
                if (!std::isfinite(t1)) return true;
              }
            if (!(dt <= 1e-4 * std::min(1.0, 0.5 * std::fabs(t0)))) return true;
          }
          return false;
        };
        for (int kk = 0; kk < nb; ++kk) {
          const int j = idx[kk];
          assemble(kk, 0, G0);
          const double logdet0 = logdet_spd(G0, c + 1);
          bool ok = std::isfinite(logdet0);
          double beta = kNaN, se = kNaN, Pxx, Pxy, Pyy;
          const bool need_full = exact && (do_wald || do_lrt);
          if (need_full) {
            A.col(xs) = UtG.col(kk);
            ps.set_column(A, xs);
          }
          double lam_at = kNaN;  // lambda of the last ps.at
          // (f, d1, d2) at any lambda, REML or ML
          auto make_fun = [&](bool reml) -> EvalFun {
            return [&, reml](double lam, bool need_f, bool need_d2) {
              Scalars sc;
              ps.at(lam, need_d2 ? 3 : 2, need_f, G1, G2, G3, sc);
              lam_at = lam;
              return lik_from(G1, G2, G3, sc, lam, n, c + 1, yc, logdet0, reml,
                              need_f, true, need_d2);
            };
          };
          EvalFun fun_ml = make_fun(false), fun_re = make_fun(true);
          double f_lo_ml = kNaN, f_hi_ml = kNaN, f_lo_re = kNaN, f_hi_re = kNaN;
          if (ok && need_full) {
            for (int l = 0; l < ng && ok; ++l) {
              assemble(kk, 1 + 2 * l, G1);
              assemble(kk, 2 + 2 * l, G2);
              bool ends = (l == 0 || l == ng - 1);
              // derivative at the grid point, f at the two ends
              auto at_grid = [&](bool reml, std::vector<double>& dg, double& f_lo,
                                 double& f_hi) {
                LikValue v = lik_from(G1, G2, G3, scal[l], grid[l], n, c + 1, yc,
                                      logdet0, reml, ends, true, false);
                dg[l] = v.d1;
                if (l == 0) f_lo = v.f;
                if (l == ng - 1) f_hi = v.f;
                return v.ok;
              };
              if (do_lrt) ok = at_grid(false, dml, f_lo_ml, f_hi_ml) && ok;
              if (do_wald) ok = at_grid(true, dre, f_lo_re, f_hi_re) && ok;
            }
          }
          // the per-SNP search for lambda (REML or ML): GEMMA's, or the exact
          // one started at the null model's lambda (lams[ng] ML, [ng + 1] REML,
          // whose first Newton step comes from the shared products)
          auto search = [&](bool reml, const std::vector<double>& dg, double f_lo,
                            double f_hi, double& lam, double& f) {
            lam_at = kNaN;
            const EvalFun& fun = reml ? fun_re : fun_ml;
            if (gemma_search) return maximize_gemma(fun, grid, dg, f_lo, f_hi, lam, f);
            const int li = reml ? ng + 1 : ng;
            assemble(kk, 1 + 2 * li, G1);
            assemble(kk, 2 + 2 * li, G2);
            assemble(kk, 1 + 2 * nl + (li - ng), G3);
            LikValue v0 = lik_from(G1, G2, G3, scal[li], lams[li], n, c + 1, yc,
                                   logdet0, reml, true, true, true);
            return v0.ok && maximize(fun, grid, dg, f_lo, f_hi, lams[li], lam, f, &v0);
          };
          if (ok && do_score) {
            assemble(kk, 1 + 2 * ng, G1);
            ok = projected(G1, Pxx, Pxy, Pyy);
            if (ok) {
              put(j, 9, n * Pxy * Pxy / (Pyy * Pxx));
              beta = Pxy / Pxx;
              se = std::sqrt((Pyy - Pxy * Pxy / Pxx) / (dfw * Pxx));
            }
          }
          if (ok && do_wald) {
            double lam = lam_null_reml, f = kNaN;
            if (exact) {
              ok = search(true, dre, f_lo_re, f_hi_re, lam, f);
              if (ok && lam != lam_at) {
                Scalars sc;
                ps.at(lam, 1, false, G1, G2, G3, sc);
              }
            } else {
              assemble(kk, 3 + 2 * ng, G1);
            }
            if (ok) ok = projected(G1, Pxx, Pxy, Pyy);
            if (ok) {
              double Px_yy = Pyy - Pxy * Pxy / Pxx;
              double tau = dfw / Px_yy;
              beta = Pxy / Pxx;
              se = std::sqrt(1.0 / (tau * Pxx));
              put(j, 6, lam);
              put(j, 8, (Pyy - Px_yy) * tau);
              put(j, 10, f);
            }
          }
          if (ok && do_lrt) {
            double lam = lam_null_ml, f = kNaN;
            if (exact) {
              ok = search(false, dml, f_lo_ml, f_hi_ml, lam, f);
            } else {
              assemble(kk, 1 + 2 * ng, G1);
              LikValue v = lik_from(G1, G2, G3, scal[ng], lam, n, c + 1, yc,
                                    logdet0, false, true, false, false);
              ok = v.ok;
              f = v.f;
            }
            if (ok) {
              put(j, 7, lam);
              put(j, 5, f);
              if (!do_wald && !do_score) {
                Scalars sc;
                if (exact) { if (lam != lam_at) ps.at(lam, 1, false, G1, G2, G3, sc); }
                else assemble(kk, 1 + 2 * ng, G1);
                ok = projected(G1, Pxx, Pxy, Pyy);
                if (ok) {
                  beta = Pxy / Pxx;
                  se = std::sqrt((Pyy - Pxy * Pxy / Pxx) / (dfw * Pxx));
                }
              }
            }
          }
          if (!ok || !std::isfinite(beta) || !std::isfinite(se)) {
            put(j, 0, 5);
            for (int q = 3; q < NC - 1; ++q) put(j, q, NA_REAL);
            if (in_float) redo.push_back(j);  // failed: retried in double
            continue;
          }
          put(j, 3, beta);
          put(j, 4, se);
          if (in_float && float_needs_redo(kk)) redo.push_back(j);
        }
        }
        if (!redo.empty()) {
#pragma omp critical(lemma_scan_redo)
          redo_all.insert(redo_all.end(), redo.begin(), redo.end());
        }
      } catch (std::exception& e) {
#pragma omp critical
        error = e.what();
      }
    }
  }
  if (!error.empty() || redo_all.empty()) break;
  // the same blocks whatever the number of threads
  std::sort(redo_all.begin(), redo_all.end());
  }  // phase
  if (!error.empty()) throw std::runtime_error(error);
  return out;
}

// The chunk's genotypes as a dosage matrix (n x B, NA missing).
// [[Rcpp::export(.scan_chunk, rng = false)]]
Rcpp::NumericMatrix scan_chunk_cpp(Eigen::Map<Eigen::MatrixXd> U,
                                   Eigen::Map<Eigen::VectorXd> d_,
                                   Eigen::Map<Eigen::MatrixXd> W,
                                   Eigen::Map<Eigen::MatrixXd> UtW,
                                   Eigen::Map<Eigen::VectorXd> Uty,
                                   Rcpp::NumericMatrix G, Rcpp::List ctx) {
  const int n = G.nrow(), B = G.ncol();
  if (n != d_.size()) throw std::runtime_error("genotype rows do not match the individuals");
  const double* Gp = B > 0 ? &G(0, 0) : NULL;
  GenoFill fill = [&](int j, double* x) {
    const double* col = Gp + static_cast<long>(j) * n;
    for (int i = 0; i < n; ++i) x[i] = ISNAN(col[i]) ? kNaN : col[i];
  };
  return scan_core(U, d_, W, UtW, Uty, B, fill, ScanOptions(ctx));
}

// The chunk's genotypes read from a PLINK .bed file: SNPs snp_idx and
// individuals ind_idx (1-based, in the order of the rows of U), decoded
// straight into the scan's buffers.
// [[Rcpp::export(.scan_chunk_bed, rng = false)]]
Rcpp::NumericMatrix scan_chunk_bed_cpp(Eigen::Map<Eigen::MatrixXd> U,
                                       Eigen::Map<Eigen::VectorXd> d_,
                                       Eigen::Map<Eigen::MatrixXd> W,
                                       Eigen::Map<Eigen::MatrixXd> UtW,
                                       Eigen::Map<Eigen::VectorXd> Uty,
                                       std::string path, int n_total,
                                       int m_total, Rcpp::IntegerVector snp_idx,
                                       Rcpp::IntegerVector ind_idx,
                                       Rcpp::List ctx) {
  std::vector<int> snps = to_zero_based(snp_idx, m_total, "SNP");
  std::vector<int> inds = to_zero_based(ind_idx, n_total, "individual");
  if (static_cast<int>(inds.size()) != d_.size())
    throw std::runtime_error("genotype rows do not match the individuals");
  BedReader reader(path, n_total, m_total);
  const long bps = reader.bytes_per_snp();
  std::vector<unsigned char> raw(static_cast<size_t>(bps) * snps.size());
  if (!snps.empty()) reader.read_raw(snps, raw.data());
  GenoFill fill = [&](int j, double* x) {
    decode_snp(raw.data() + static_cast<size_t>(j) * bps, inds, x);
  };
  return scan_core(U, d_, W, UtW, Uty, static_cast<int>(snps.size()), fill,
                   ScanOptions(ctx));
}
