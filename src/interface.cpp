// R entry points of the core. Each fit owns one BlockedModel behind an external
// pointer; Rcpp's export wrappers turn C++ exceptions into R errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dense_simd.h"
#include "model.h"
#include "term_data_r.h"

using lemma::Block;
using lemma::BlockedModel;
using lemma::BlockKind;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

BlockedModel* model_of(SEXP ptr) {
  Rcpp::XPtr<BlockedModel> xp(ptr);
  if (xp.get() == nullptr)
    Rcpp::stop("the model's C++ state is gone (the object was saved and reloaded); it is rebuilt by lemma's methods");
  return xp.get();
}

Rcpp::List as_list(const std::vector<VectorXd>& v) {
  Rcpp::List out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = Rcpp::wrap(v[i]);
  return out;
}

}  // namespace

// [[Rcpp::export(.model_new)]]
SEXP model_new(Rcpp::List terms, const Eigen::Map<Eigen::MatrixXd> X, const Eigen::Map<Eigen::VectorXd> y,
               int threads = 1) {
  std::vector<lemma::TermData> td;
  for (int t = 0; t < terms.size(); ++t) td.push_back(lemma::term_data_from_r(terms[t]));
  Rcpp::XPtr<BlockedModel> p(new BlockedModel(std::move(td), X, y, threads), true);
  return p;
}

// A copy of the model with a new response (weighted, offset removed): the refit
// path of refit() and the bootstrap, which keeps the design's cross-products.
// [[Rcpp::export(.model_with_response)]]
SEXP model_with_response(SEXP ptr, const Eigen::Map<Eigen::MatrixXd> X, const Eigen::Map<Eigen::VectorXd> y) {
  Rcpp::XPtr<BlockedModel> p(new BlockedModel(*model_of(ptr)), true);
  p->replace_response(X, y);
  return p;
}

// Sums of the rows of x by group (codes 1..nlev, as R's integer codes of a factor):
// rowsum() for integer codes without its unique() and match() of all rows, which
// cost more than the starting values they feed (InstEval: 21 of 28 ms).
// [[Rcpp::export(.group_sums)]]
Rcpp::NumericMatrix group_sums(const Rcpp::IntegerVector codes, const Rcpp::NumericMatrix x, int nlev) {
  const R_xlen_t n = x.nrow();
  if (codes.size() != n) Rcpp::stop("group_sums: 'codes' and 'x' differ in length");
  Rcpp::NumericMatrix out(nlev, x.ncol());
  for (int j = 0; j < x.ncol(); ++j) {
    const double* xj = &x[static_cast<R_xlen_t>(j) * n];
    double* oj = &out[static_cast<R_xlen_t>(j) * nlev];
    for (R_xlen_t i = 0; i < n; ++i) {
      const int g = codes[i];
      if (g == NA_INTEGER || g < 1 || g > nlev) Rcpp::stop("group_sums: a code is outside 1..nlev");
      oj[g - 1] += xj[i];
    }
  }
  return out;
}

// One pass over a numeric matrix (or vector) for the input checks that run on every
// fit: the number of non-finite values, the largest finite |x| and the smallest
// nonzero finite |x| (Inf when there is none). R's is.finite() and abs() each
// allocate a copy of the model matrix (InstEval's 73,421 x 28: 50 of 290 ms a fit).
// [[Rcpp::export(.value_summary)]]
Rcpp::NumericVector value_summary(const Rcpp::NumericVector x) {
  double nonfinite = 0, maxabs = 0, minabs = R_PosInf;
  const R_xlen_t n = x.size();
  for (R_xlen_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (!std::isfinite(v)) {
      nonfinite += 1;
      continue;
    }
    const double a = std::fabs(v);
    if (a > maxabs) maxabs = a;
    if (a > 0 && a < minabs) minabs = a;
  }
  return Rcpp::NumericVector::create(nonfinite, maxabs, minabs);
}

// [[Rcpp::export(.model_objective)]]
double model_objective(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta, bool reml) {
  BlockedModel* m = model_of(ptr);
  m->update(theta);
  return m->objective(reml);
}

// [[Rcpp::export(.model_solution)]]
Rcpp::List model_solution(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta, bool reml) {
  BlockedModel* m = model_of(ptr);
  m->update(theta);
  std::vector<VectorXd> u = m->u();
  return Rcpp::List::create(
      Rcpp::Named("objective") = m->objective(reml), Rcpp::Named("ldL2") = m->ldL2(),
      Rcpp::Named("ldRX2") = m->ldRX2(), Rcpp::Named("pwrss") = m->pwrss(),
      Rcpp::Named("beta") = m->beta(), Rcpp::Named("RX") = m->rx(),
      Rcpp::Named("u") = as_list(u), Rcpp::Named("b") = as_list(m->b(u)));
}

// [[Rcpp::export(.model_condvar)]]
Rcpp::List model_condvar(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta) {
  BlockedModel* m = model_of(ptr);
  m->update(theta);
  Rcpp::List out(m->nterms());
  for (int t = 0; t < m->nterms(); ++t) {
    out[t] = m->condvar(t);
    Rcpp::checkUserInterrupt();
  }
  return out;
}

// [[Rcpp::export(.model_dense_factor)]]
Eigen::MatrixXd model_dense_factor(SEXP ptr, const Eigen::Map<Eigen::VectorXd> theta) {
  BlockedModel* m = model_of(ptr);
  m->update(theta);
  return m->dense_factor();
}

// [[Rcpp::export(.model_block_kinds)]]
Rcpp::IntegerVector model_block_kinds(SEXP ptr) {
  return Rcpp::wrap(model_of(ptr)->block_kinds());
}

namespace {

// A block of the given kind holding the dense matrix m (for kernel tests).
Block block_from(Rcpp::List spec) {
  MatrixXd m = Rcpp::as<MatrixXd>(spec["M"]);
  std::string kind = Rcpp::as<std::string>(spec["kind"]);
  int p = Rcpp::as<int>(spec["p"]), pc = Rcpp::as<int>(spec["pc"]);
  Block b;
  if (kind == "diagonal") {
    b = Block::make_diagonal(m.rows());
    b.diag = m.diagonal();
  } else if (kind == "blockdiag") {
    b = Block::make_block_diagonal(m.rows() / p, p);
    for (int k = 0; k < m.rows() / p; ++k) b.level(k) = m.block(k * p, k * p, p, p);
  } else if (kind == "sparse") {
    b.kind = BlockKind::Sparse;
    b.nrow = m.rows();
    b.ncol = m.cols();
    b.p = p;
    b.pc = pc;
    std::vector<Eigen::Triplet<double> > trip;
    for (int J = 0; J < m.cols() / pc; ++J)
      for (int I = 0; I < m.rows() / p; ++I)
        if (m.block(I * p, J * pc, p, pc).cwiseAbs().maxCoeff() > 0)
          for (int b2 = 0; b2 < pc; ++b2)
            for (int a = 0; a < p; ++a) trip.emplace_back(I * p + a, J * pc + b2, m(I * p + a, J * pc + b2));
    b.sp.resize(m.rows(), m.cols());
    b.sp.setFromTriplets(trip.begin(), trip.end());
    b.sp.makeCompressed();
  } else if (kind == "dense") {
    b = Block::make_dense(m.rows(), m.cols());
    b.dense = m;
  } else {
    Rcpp::stop("unknown block kind '%s'", kind);
  }
  return b;
}

}  // namespace

// Runs one kernel on blocks built from dense matrices and returns the result densely,
// so each (kernel x block kind) can be checked against the same computation in R.
// [[Rcpp::export(.kernel_test)]]
Eigen::MatrixXd kernel_test(std::string op, Rcpp::List blocks, Rcpp::List args) {
  std::vector<Block> b;
  for (int i = 0; i < blocks.size(); ++i) b.push_back(block_from(blocks[i]));
  if (op == "scale_inflate") {
    SEXP lr = args["lr"], lc = args["lc"];
    MatrixXd mr, mc;
    if (!Rf_isNull(lr)) mr = Rcpp::as<MatrixXd>(lr);
    if (!Rf_isNull(lc)) mc = Rcpp::as<MatrixXd>(lc);
    lemma::scale_inflate(b[0], b[1], Rf_isNull(lr) ? nullptr : &mr, Rf_isNull(lc) ? nullptr : &mc,
                         Rcpp::as<bool>(args["inflate"]));
    return b[0].to_dense();
  }
  if (op == "rank_update") {
    bool diag = Rcpp::as<bool>(args["diagonal"]);
    lemma::rank_update(b[0], b[1], diag ? b[1] : b[2], diag);
    return b[0].to_dense();
  }
  if (op == "cholesky") {
    lemma::cholesky(b[0], "the test block", args.containsElementNamed("threads") ? Rcpp::as<int>(args["threads"]) : 1);
    MatrixXd d = b[0].to_dense();
    return d.triangularView<Eigen::Lower>();
  }
  if (op == "rdiv_lower_t") {
    lemma::rdiv_lower_t(b[0], b[1]);
    return b[0].to_dense();
  }
  if (op == "solve_lower") {
    MatrixXd x = Rcpp::as<MatrixXd>(args["x"]);
    lemma::solve_lower(b[0], x, Rcpp::as<bool>(args["transpose"]));
    return x;
  }
  if (op == "mult_sub") {
    MatrixXd x = Rcpp::as<MatrixXd>(args["x"]), y = Rcpp::as<MatrixXd>(args["y"]);
    lemma::mult_sub(b[0], x, y, Rcpp::as<bool>(args["transpose"]));
    return y;
  }
  if (op == "logdet2") {
    MatrixXd out(1, 1);
    out(0, 0) = lemma::logdet2(b[0]);
    return out;
  }
  Rcpp::stop("unknown kernel '%s'", op);
}

// The dense kernel set chosen for this session: "avx512", "avx2" or "none" (see
// src/dense_simd.cpp; the environment variable LEMMA_SIMD caps it).
// [[Rcpp::export(.simd_level)]]
std::string simd_level() { return lemma::simd_kernel_set(); }

// Runs one SIMD kernel of src/dense_simd.cpp on copies of its operands placed
// `offset` doubles past a 64-byte boundary, so a test can check that the result does
// not depend on where the operands sit in memory. NULL when no SIMD kernel set is in
// use (see .simd_level()).
// [[Rcpp::export(.simd_offset_probe)]]
SEXP simd_offset_probe(std::string op, const Eigen::Map<Eigen::MatrixXd> A, const Eigen::Map<Eigen::MatrixXd> B,
                       int offset, int threads = 1) {
  if (!lemma::simd_available()) return R_NilValue;
  if (offset < 0 || offset > 7) Rcpp::stop("'offset' must be in 0..7");
  // Over-allocate and place each operand `offset` doubles past a 64-byte boundary.
  auto place = [offset](std::vector<double>& buf, const MatrixXd& m) {
    buf.assign(m.size() + 16, 0.0);
    const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(buf.data());
    double* p = buf.data() + ((64 - addr % 64) % 64) / sizeof(double) + offset;
    std::copy(m.data(), m.data() + m.size(), p);
    return p;
  };
  std::vector<double> ba, bb;
  double* a = place(ba, A);
  double* b = place(bb, B);
  if (op == "cholesky") {
    if (!lemma::simd_cholesky(a, static_cast<int>(A.rows()), threads)) Rcpp::stop("not positive definite");
  } else if (op == "inverse") {
    lemma::simd_spd_inverse_lower(a, static_cast<int>(A.rows()), threads);
  } else if (op == "rdiv_lower_t") {
    lemma::simd_rdiv_lower_t(a, static_cast<int>(A.rows()), static_cast<int>(A.cols()), b);
  } else if (op == "rank_update") {
    lemma::simd_rank_update_lower(a, static_cast<int>(A.rows()), b, static_cast<int>(B.cols()));
  } else {
    Rcpp::stop("unknown kernel '%s'", op);
  }
  return Rcpp::wrap(MatrixXd(Eigen::Map<MatrixXd>(a, A.rows(), A.cols())));
}
