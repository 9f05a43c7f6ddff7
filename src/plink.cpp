// PLINK .bed reader and relatedness (GRM) computation.
// [[Rcpp::depends(RcppEigen)]]
#include "genetics.h"
#include "gemm_avx512.h"
#include "simd_env.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <functional>
#include <stdexcept>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifndef _WIN32
#include <dlfcn.h>
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif

namespace lemma {

namespace {

// Inside a parallel region: this thread's contiguous share [lo, hi) of rows
// 0 .. n - 1 (all of them without OpenMP).
void this_thread_rows(int n, int& lo, int& hi) {
#ifdef _OPENMP
  const int nt = omp_get_num_threads(), me = omp_get_thread_num();
#else
  const int nt = 1, me = 0;
#endif
  lo = static_cast<int>(static_cast<long>(n) * me / nt);
  hi = static_cast<int>(static_cast<long>(n) * (me + 1) / nt);
}

// Dosage of allele 1 for each 2-bit PLINK code (0 = hom allele 1, 1 = missing,
// 2 = het, 3 = hom allele 2).
const double kCode2Dose[4] = {2.0, std::numeric_limits<double>::quiet_NaN(),
                              1.0, 0.0};

std::string size_message(const std::string& path, long long got,
                         long long want, int n, int m) {
  std::ostringstream s;
  s << "PLINK file '" << path << "' has " << got << " bytes; expected " << want
    << " = 3 + " << m << " SNPs (.bim) x " << (n + 3) / 4 << " bytes for " << n
    << " individuals (.fam). The .bed does not match the .bim/.fam.";
  return s.str();
}
}  // namespace

void check_bed(const std::string& path, int n_total, int m_total) {
  std::ifstream in(path.c_str(), std::ios::binary);
  if (!in) throw std::runtime_error("cannot open PLINK file '" + path + "'");
  unsigned char magic[3] = {0, 0, 0};
  in.read(reinterpret_cast<char*>(magic), 3);
  if (in.gcount() < 3 || magic[0] != 0x6c || magic[1] != 0x1b)
    throw std::runtime_error("'" + path +
                             "' is not a PLINK .bed file (wrong magic bytes)");
  if (magic[2] != 0x01)
    throw std::runtime_error("'" + path +
                             "' is an individual-major .bed file; only "
                             "SNP-major files are supported (use plink --make-bed)");
  in.seekg(0, std::ios::end);
  long long got = static_cast<long long>(in.tellg());
  long long want = 3LL + static_cast<long long>(m_total) * ((n_total + 3) / 4);
  if (got != want)
    throw std::runtime_error(size_message(path, got, want, n_total, m_total));
}

BedReader::BedReader(const std::string& path, int n_total, int m_total)
    : path_(path), n_(n_total), m_(m_total) {
  check_bed(path, n_total, m_total);
  in_.open(path.c_str(), std::ios::binary);
  if (!in_) throw std::runtime_error("cannot open PLINK file '" + path + "'");
  bytes_per_snp_ = (n_total + 3) / 4;
  buf_.resize(bytes_per_snp_);
  dos_.resize(static_cast<size_t>(bytes_per_snp_) * 4);
}

void BedReader::read_snp(int j, const std::vector<int>& ind, double* out) {
  if (j < 0 || j >= m_) throw std::runtime_error("SNP index out of range");
  in_.seekg(3 + static_cast<long long>(j) * bytes_per_snp_);
  in_.read(reinterpret_cast<char*>(buf_.data()), bytes_per_snp_);
  if (in_.gcount() != bytes_per_snp_)
    throw std::runtime_error("read error in PLINK file '" + path_ + "'");
  double* d = dos_.data();
  for (long b = 0; b < bytes_per_snp_; ++b) {
    unsigned int byte = buf_[b];
    d[4 * b] = kCode2Dose[byte & 3u];
    d[4 * b + 1] = kCode2Dose[(byte >> 2) & 3u];
    d[4 * b + 2] = kCode2Dose[(byte >> 4) & 3u];
    d[4 * b + 3] = kCode2Dose[(byte >> 6) & 3u];
  }
  const size_t k = ind.size();
  for (size_t i = 0; i < k; ++i) out[i] = d[ind[i]];
}

void BedReader::read_raw(const std::vector<int>& snps, unsigned char* out) {
  const size_t k = snps.size();
  size_t a = 0;
  while (a < k) {
    size_t b = a + 1;
    while (b < k && snps[b] == snps[b - 1] + 1) ++b;
    if (snps[a] < 0 || snps[b - 1] >= m_)
      throw std::runtime_error("SNP index out of range");
    in_.seekg(3 + static_cast<long long>(snps[a]) * bytes_per_snp_);
    const std::streamsize len = static_cast<std::streamsize>((b - a) * bytes_per_snp_);
    in_.read(reinterpret_cast<char*>(out + a * bytes_per_snp_), len);
    if (in_.gcount() != len)
      throw std::runtime_error("read error in PLINK file '" + path_ + "'");
    a = b;
  }
}

void decode_snp(const unsigned char* record, const std::vector<int>& ind,
                double* out) {
  const size_t k = ind.size();
  for (size_t i = 0; i < k; ++i) {
    const int t = ind[i];
    out[i] = kCode2Dose[(record[t >> 2] >> (2 * (t & 3))) & 3u];
  }
}

// Without branches, so that it vectorizes (NaN fails every comparison; the
// sums of 0/1/2 dosages are exact in any order).
SnpStats snp_stats(const double* x, int n) {
  SnpStats s;
  int n_miss = 0, lo = 0, mid = 0, hi = 0;
  double sum = 0.0;
#pragma omp simd reduction(+ : n_miss, sum) reduction(| : lo, mid, hi)
  for (int i = 0; i < n; ++i) {
    const double v = x[i];
    const bool na = std::isnan(v);
    n_miss += na;
    sum += na ? 0.0 : v;
    lo |= v <= 0.5;
    mid |= v > 0.5 && v < 1.5;
    hi |= v >= 1.5;
  }
  s.n_miss = n_miss;
  int nobs = n - s.n_miss;
  s.mean = nobs > 0 ? sum / nobs : std::numeric_limits<double>::quiet_NaN();
  s.af = s.mean / 2.0;
  s.n_class = lo + mid + hi;
  return s;
}

void crossprod_into(const Eigen::Ref<const Eigen::MatrixXd>& A,
                    const Eigen::Ref<const Eigen::MatrixXd>& B,
                    Eigen::MatrixXd& C, bool use_blas) {
  const int n = A.rows(), p = A.cols(), q = B.cols();
  C.resize(p, q);
  if (p == 0 || q == 0) return;
  if (n > 0 && avx512_gemm_available()) {
    avx512_double_crossprod(A.data(), n, p, A.outerStride(), B.data(), q,
                            B.outerStride(), C.data());
    return;
  }
  if (!use_blas || n == 0) {
    C.noalias() = A.transpose() * B;
    return;
  }
  const double one = 1.0, zero = 0.0;
  int lda = A.outerStride(), ldb = B.outerStride(), ldc = p;
  F77_CALL(dgemm)("T", "N", &p, &q, &n, &one, A.data(), &lda, B.data(), &ldb,
                  &zero, C.data(), &ldc FCONE FCONE);
}

}  // namespace lemma

using namespace lemma;

std::vector<int> lemma::to_zero_based(const Rcpp::IntegerVector& idx, int max,
                                      const char* what) {
  std::vector<int> out(idx.size());
  for (R_xlen_t i = 0; i < idx.size(); ++i) {
    int v = idx[i];
    if (v == NA_INTEGER || v < 1 || v > max) {
      std::ostringstream s;
      s << what << " index " << v << " out of range 1.." << max;
      throw std::runtime_error(s.str());
    }
    out[i] = v - 1;
  }
  return out;
}

// [[Rcpp::export(.bed_check, rng = false)]]
bool bed_check_cpp(std::string path, int n_total, int m_total) {
  check_bed(path, n_total, m_total);
  return true;
}

// Dosage matrix (individuals x SNPs) for the given 1-based SNP and individual
// indices.
// [[Rcpp::export(.bed_read, rng = false)]]
Rcpp::NumericMatrix bed_read_cpp(std::string path, int n_total, int m_total,
                                 Rcpp::IntegerVector snp_idx,
                                 Rcpp::IntegerVector ind_idx) {
  std::vector<int> snps = to_zero_based(snp_idx, m_total, "SNP");
  std::vector<int> inds = to_zero_based(ind_idx, n_total, "individual");
  BedReader reader(path, n_total, m_total);
  Rcpp::NumericMatrix out(inds.size(), snps.size());
  for (size_t j = 0; j < snps.size(); ++j) {
    if (j % 256 == 0) Rcpp::checkUserInterrupt();
    reader.read_snp(snps[j], inds, &out(0, j));
  }
  for (R_xlen_t i = 0; i < out.size(); ++i)
    if (std::isnan(out[i])) out[i] = NA_REAL;
  return out;
}

namespace {

// A function of the BLAS R is linked to, looked up at run time (NULL if that
// BLAS lacks it: R's own reference BLAS has only the double-precision
// routines, and only OpenBLAS has the thread controls).
template <class Fun>
Fun blas_function(const char* name) {
#ifndef _WIN32
  return reinterpret_cast<Fun>(dlsym(RTLD_DEFAULT, name));
#else
  (void)name;
  return NULL;
#endif
}

typedef void (*sgemm_fun)(const char*, const char*, const int*, const int*,
                          const int*, const float*, const float*, const int*,
                          const float*, const int*, const float*, float*,
                          const int*, size_t, size_t);

}  // namespace

void lemma::float_product_into(const Eigen::MatrixXf& A, const Eigen::MatrixXf& B,
                               Eigen::MatrixXf& C, bool use_blas) {
  static const sgemm_fun sgemm = blas_function<sgemm_fun>("sgemm_");
  const int m = A.rows(), k = A.cols(), q = B.cols();
  C.resize(m, q);
  if (m == 0 || q == 0) return;
  if (k > 0 && avx512_gemm_available()) {
    avx512_float_product(A.data(), m, k, B.data(), q, C.data());
    return;
  }
  if (!use_blas || sgemm == NULL || k == 0) {
    C.noalias() = A * B;
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  sgemm("N", "N", &m, &q, &k, &one, A.data(), &m, B.data(), &k, &zero, C.data(),
        &m, 1, 1);
}

namespace {

// Sets OpenBLAS's number of threads (if R's BLAS is OpenBLAS) and returns
// the previous number, or -1 if that BLAS offers no such control.
int set_blas_threads(int n) {
  typedef void (*set_fun)(int);
  typedef int (*get_fun)(void);
  set_fun s = blas_function<set_fun>("openblas_set_num_threads");
  get_fun g = blas_function<get_fun>("openblas_get_num_threads");
  if (s == NULL || g == NULL) return -1;
  int old = g();
  if (n > 0) s(n);
  return old;
}

// A += G G' (lower triangle, column-major n x n int32) for 0/1/2 genotypes
// packed as bits: per individual, W words of "dosage >= 1" then W words of
// "dosage == 2", so that g_i . g_j = |a_i & a_j| + |a_i & b_j| + |b_i & a_j| +
// |b_i & b_j| (population counts). Exact integer sums, 4 W popcounts per pair
// for 64 W SNPs: a fraction of a float product's work, and no BLAS needed.
// column j of the update (rows i >= j); compiled per instruction set below
// (outside the OpenMP region, whose outlined body would not inherit the
// target attributes)
inline __attribute__((always_inline)) void popcount_column(
    const uint64_t* bits, int n, int W, int32_t* A, int j) {
  const uint64_t* aj = bits + static_cast<size_t>(j) * 2 * W;
  const uint64_t* bj = aj + W;
  int32_t* col = A + static_cast<size_t>(j) * n;
  for (int i = j; i < n; ++i) {
    const uint64_t* ai = bits + static_cast<size_t>(i) * 2 * W;
    const uint64_t* bi = ai + W;
    uint64_t s = 0;
    for (int w = 0; w < W; ++w)
      s += __builtin_popcountll(ai[w] & aj[w]) + __builtin_popcountll(ai[w] & bj[w]) +
           __builtin_popcountll(bi[w] & aj[w]) + __builtin_popcountll(bi[w] & bj[w]);
    col[i] += static_cast<int32_t>(s);
  }
}

typedef void (*popcount_column_fun)(const uint64_t*, int, int, int32_t*, int);

void popcount_column_generic(const uint64_t* bits, int n, int W, int32_t* A, int j) {
  popcount_column(bits, n, W, A, j);
}
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define LEMMA_POPCNT_DISPATCH 1
// AVX-512 (VPOPCNTDQ): column j's bit planes held in registers, 8 words
// per instruction
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) void popcount_column_avx512(
    const uint64_t* bits, int n, int W, int32_t* A, int j) {
  if (W % 8 != 0 || W > 32) return popcount_column(bits, n, W, A, j);
  const int nv = W / 8;
  const uint64_t* aj = bits + static_cast<size_t>(j) * 2 * W;
  __m512i va[4], vb[4];
  for (int q = 0; q < nv; ++q) {
    va[q] = _mm512_loadu_si512(aj + 8 * q);
    vb[q] = _mm512_loadu_si512(aj + W + 8 * q);
  }
  int32_t* col = A + static_cast<size_t>(j) * n;
  for (int i = j; i < n; ++i) {
    const uint64_t* ai = bits + static_cast<size_t>(i) * 2 * W;
    __m512i acc = _mm512_setzero_si512();
    for (int q = 0; q < nv; ++q) {
      const __m512i x = _mm512_loadu_si512(ai + 8 * q);
      const __m512i y = _mm512_loadu_si512(ai + W + 8 * q);
      acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(x, va[q])));
      acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(x, vb[q])));
      acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(y, va[q])));
      acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(y, vb[q])));
    }
    col[i] += static_cast<int32_t>(_mm512_reduce_add_epi64(acc));
  }
}
__attribute__((target("popcnt"))) void popcount_column_popcnt(
    const uint64_t* bits, int n, int W, int32_t* A, int j) {
  popcount_column(bits, n, W, A, j);
}
#endif

void popcount_update(const uint64_t* bits, int n, int W, int32_t* A, int threads) {
  popcount_column_fun f = popcount_column_generic;
#ifdef LEMMA_POPCNT_DISPATCH
  if (simd_level() >= kSimdAvx512 && __builtin_cpu_supports("avx512vpopcntdq"))
    f = popcount_column_avx512;
  else if (__builtin_cpu_supports("popcnt")) f = popcount_column_popcnt;
#endif
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
  for (int j = 0; j < n; ++j) f(bits, n, W, A, j);
}

// y += a x over n entries, x in single precision (vectorized; each entry is
// rounded as by the plain loop)
inline void axpy_float(double* y, double a, const float* x, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) y[i] += a * static_cast<double>(x[i]);
}

// Accumulates K = sum_j z_j z_j' / m in blocks of SNPs, where z_j is the
// mean-imputed, centred (and for the standardized GRM, scaled) genotype
// vector, as GEMMA's -gk 1 / -gk 2.
//
// For the centred GRM of integer genotypes (0/1/2), the product is split so
// that its O(n^2 m) part is exact in single precision: with g0 the genotypes
// with missing values set to 0, m_j the missingness indicator of SNP j and
// mu_j its mean,
//   z_j = g0_j - mu_j (1 - m_j),
//   sum_j z_j z_j' = A - (v 1' + 1 v') + s 1 1' - (w 1' + 1 w') + (C + C'),
// with A = sum_j g0_j g0_j' (integers, summed exactly by bit counts in
// int32 while below 2^31, then moved to doubles; popcount_update), v = sum_j
// mu_j g0_j, s = sum_j mu_j^2, w = sum_j mu_j^2 m_j, and C = sum_j (mu_j g0_j
// m_j' + mu_j^2 m_j m_j' / 2), whose cost is n per missing genotype. The
// result is as exact as the double-precision sum.
class GrmAccumulator {
 public:
  // K: n x n zero-filled storage of the result (an R matrix: no copy)
  GrmAccumulator(double* K, int n, bool standardize, double maf, double miss,
                 int block, bool use_blas, bool integer_genotypes)
      : K_(K, n, n), n_(n), standardize_(standardize), maf_(maf), miss_(miss),
        block_(block), filled_(0), used_(0), use_blas_(use_blas),
        split_(!standardize && integer_genotypes), in_int_(0), bits_filled_(0),
        s_(0.0), threads_(1) {
    if (split_) {
      Ki_.assign(static_cast<size_t>(n) * n, 0);
      bits_.assign(static_cast<size_t>(n) * 2 * kBitWords, 0);
      Zf_.resize(n, block);
      v_ = Eigen::VectorXd::Zero(n);
      w_ = Eigen::VectorXd::Zero(n);
      cdiag_ = Eigen::VectorXd::Zero(n);
    } else {
      Z_.resize(n, block);
    }
  }
  // Adds `count` (<= block) SNPs: fill(j, x) writes SNP j's dosages (NaN
  // missing); used[j] says whether it passed the filters. The per-SNP work
  // runs on `threads` OpenMP threads; every sum is formed in the same order
  // whatever their number.
  void add_block(int count, const std::function<void(int, double*)>& fill,
                 int* used, int threads) {
    if (count > block_) throw std::runtime_error("GRM block too large");
    threads_ = threads;
    // the per-SNP passes are O(n) per SNP: below kMinSharedWork values a
    // block is cheaper on one thread than across a barrier (on a loaded
    // machine a descheduled thread stalls the others at every barrier)
    threads = work_threads(static_cast<long>(n_) * count);
    X_.resize(n_, count);
    mean_.resize(count);
    scale_.resize(count);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int j = 0; j < count; ++j) {
      double* x = X_.col(j).data();
      fill(j, x);
      SnpStats s = snp_stats(x, n_);
      bool ok = !(s.n_miss == n_ || static_cast<double>(s.n_miss) / n_ > miss_ ||
                  s.af < maf_ || s.af > 1.0 - maf_ || s.n_class < 2);
      used[j] = ok;
      mean_[j] = s.mean;
      scale_[j] = 1.0;
      if (ok && standardize_) {
        // population variance with missing values set to the mean
        double ss = 0.0;
        for (int i = 0; i < n_; ++i)
          if (!std::isnan(x[i])) ss += (x[i] - s.mean) * (x[i] - s.mean);
        const double var = ss / n_;
        if (var > 0) scale_[j] = 1.0 / std::sqrt(var);
      }
    }
    std::vector<int> cols;
    for (int j = 0; j < count; ++j)
      if (used[j]) cols.push_back(j);
    const int k = cols.size();
    if (k == 0) return;
    if (filled_ + k > block_) flush();
    const int f0 = filled_;
    if (split_) {
      missing_.resize(k);
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int t = 0; t < k; ++t) {
        const double* x = X_.col(cols[t]).data();
        float* f = Zf_.col(f0 + t).data();
        missing_[t].clear();
        for (int i = 0; i < n_; ++i) {
          const bool na = std::isnan(x[i]);
          f[i] = na ? 0.0f : static_cast<float>(x[i]);
          if (na) missing_[t].push_back(i);
        }
      }
      // the block's missing genotypes by individual, SNPs in increasing order
      miss_start_.assign(n_ + 1, 0);
      for (int t = 0; t < k; ++t)
        for (size_t a = 0; a < missing_[t].size(); ++a) ++miss_start_[missing_[t][a] + 1];
      for (int c = 0; c < n_; ++c) miss_start_[c + 1] += miss_start_[c];
      miss_snp_.resize(miss_start_[n_]);
      {
        std::vector<int> pos(miss_start_.begin(), miss_start_.end() - 1);
        for (int t = 0; t < k; ++t)
          for (size_t a = 0; a < missing_[t].size(); ++a) miss_snp_[pos[missing_[t][a]]++] = t;
      }
      // v += sum_t mean_t g0_t, w, s and C (see the class comment), split
      // over rows (v) and columns (C) so that threads never share an entry.
      // C is updated column by column, each with all the block's SNPs missing
      // there: a column of K (40 KB at n = 5,000) is then read and written
      // once per block rather than once per missing genotype, which made this
      // pass memory-bound. Each entry receives the same additions in the same
      // order as SNP by SNP.
#pragma omp parallel num_threads(threads)
      {
        int lo, hi;
        this_thread_rows(n_, lo, hi);
        for (int t = 0; t < k; ++t)
          axpy_float(v_.data() + lo, mean_[cols[t]], Zf_.col(f0 + t).data() + lo, hi - lo);
        for (int c = lo; c < hi; ++c) {
          double* ck = &K_(0, c);
          for (int e = miss_start_[c]; e < miss_start_[c + 1]; ++e) {
            const int t = miss_snp_[e];
            const double mu = mean_[cols[t]], mm2 = 0.5 * mu * mu;
            const std::vector<int>& miss = missing_[t];
            w_[c] += mu * mu;
            axpy_float(ck, mu, Zf_.col(f0 + t).data(), n_);
            for (size_t b = 0; b < miss.size(); ++b) ck[miss[b]] += mm2;
            cdiag_[c] += mm2;
          }
        }
      }
      for (int t = 0; t < k; ++t) s_ += mean_[cols[t]] * mean_[cols[t]];
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int t = 0; t < k; ++t) {
        const double* x = X_.col(cols[t]).data();
        const double mu = mean_[cols[t]], sc = scale_[cols[t]];
        double* z = Z_.col(f0 + t).data();
        for (int i = 0; i < n_; ++i) z[i] = std::isnan(x[i]) ? 0.0 : (x[i] - mu) * sc;
      }
    }
    filled_ += k;
    used_ += k;
    if (filled_ == block_) flush();
  }
  void flush() {
    if (filled_ == 0) return;
    int n = n_, k = filled_;
    if (split_) {
      pack_bits();
    } else if (use_blas_) {
      const double one = 1.0;
      F77_CALL(dsyrk)("L", "N", &n, &k, &one, Z_.data(), &n, &one, K_.data(), &n
                      FCONE FCONE);
    } else {
      K_.selfadjointView<Eigen::Lower>().rankUpdate(Z_.leftCols(filled_));
    }
    filled_ = 0;
  }
  void finish() {
    flush();
    if (split_) update_from_bits();
    const double scale = used_ > 0 ? 1.0 / static_cast<double>(used_) : 1.0;
    if (split_) {
      move_to_double();
      for (int j = 0; j < n_; ++j) {
        cdiag_[j] += s_ - 2.0 * (v_[j] + w_[j]);  // diagonal correction
        v_[j] += w_[j];
      }
    }
    // in tiles, so that reading the upper triangle (a row) stays in cache:
    // lower = (lower + corrections [+ upper, C']) / m, then upper = lower'
    const int T = 64;
    for (int j0 = 0; j0 < n_; j0 += T) {
      const int j1 = std::min(n_, j0 + T);
      for (int i0 = j0; i0 < n_; i0 += T) {
        const int i1 = std::min(n_, i0 + T);
        for (int j = j0; j < j1; ++j) {
          for (int i = std::max(i0, j); i < i1; ++i) {
            double v = K_(i, j);
            if (split_) {
              if (i == j) v += cdiag_[j];
              else v += K_(j, i) + s_ - v_[i] - v_[j];
            }
            K_(i, j) = v * scale;
          }
        }
        for (int j = j0; j < j1; ++j)
          for (int i = std::max(i0, j + 1); i < i1; ++i) K_(j, i) = K_(i, j);
      }
    }
  }
  int used() const { return used_; }

 private:
  // SNPs [0, filled_) of Zf_ into the bit planes (popcount_update), which
  // run the product when full
  void pack_bits() {
    const int W = kBitWords;
    int t0 = 0;
    while (t0 < filled_) {
      const int take = std::min(filled_ - t0, 64 * W - bits_filled_);
#pragma omp parallel num_threads(work_threads(static_cast<long>(n_) * take))
      {
        // rows split over threads (no shared words); each SNP's column read
        // in order
        int lo, hi;
        this_thread_rows(n_, lo, hi);
        for (int t = 0; t < take; ++t) {
          const float* g = Zf_.col(t0 + t).data();
          const int p = bits_filled_ + t;
          const uint64_t bit = uint64_t(1) << (p & 63);
          uint64_t* a = &bits_[(p >> 6)];
          for (int i = lo; i < hi; ++i) {
            const size_t o = static_cast<size_t>(i) * 2 * W;
            if (g[i] >= 1.0f) a[o] |= bit;
            if (g[i] >= 2.0f) a[o + W] |= bit;
          }
        }
      }
      bits_filled_ += take;
      t0 += take;
      if (bits_filled_ == 64 * W) update_from_bits();
    }
  }
  void update_from_bits() {
    if (bits_filled_ == 0) return;
    popcount_update(bits_.data(), n_, kBitWords, Ki_.data(), threads_);
    std::fill(bits_.begin(), bits_.end(), 0);
    in_int_ += bits_filled_;
    bits_filled_ = 0;
    // entries of Ki are at most 4 per SNP: exact while below 2^31
    if (in_int_ >= (1L << 28)) move_to_double();
  }
  void move_to_double() {
    if (in_int_ == 0) return;
    for (int j = 0; j < n_; ++j)
      for (int i = j; i < n_; ++i)
        K_(i, j) += static_cast<double>(Ki_[i + static_cast<size_t>(j) * n_]);
    std::fill(Ki_.begin(), Ki_.end(), 0);
    in_int_ = 0;
  }
  static const int kBitWords = 32;  // 2,048 SNPs per product
  static const long kMinSharedWork = 1L << 21;
  int work_threads(long work) const { return work >= kMinSharedWork ? threads_ : 1; }
  Eigen::Map<Eigen::MatrixXd> K_;
  int n_;
  bool standardize_;
  double maf_, miss_;
  int block_, filled_, used_;
  bool use_blas_, split_;
  long in_int_;
  int bits_filled_;
  double s_;
  int threads_;
  Eigen::MatrixXd Z_, X_;
  Eigen::MatrixXf Zf_;
  std::vector<int32_t> Ki_;    // the integer part A (lower triangle)
  std::vector<uint64_t> bits_;  // bit planes of the SNPs not yet in Ki_
  Eigen::VectorXd v_, w_, cdiag_;
  std::vector<double> mean_, scale_;
  std::vector<std::vector<int> > missing_;  // per SNP of the block
  // the same by individual c: SNPs miss_snp_[miss_start_[c] .. miss_start_[c + 1])
  std::vector<int> miss_start_, miss_snp_;
};


}  // namespace

// [[Rcpp::export(.grm_bed, rng = false)]]
Rcpp::List grm_bed_cpp(std::string path, int n_total, int m_total,
                       Rcpp::IntegerVector snp_idx, Rcpp::IntegerVector ind_idx,
                       bool standardize, double maf, double miss, int block,
                       bool use_blas, int threads = 1) {
  std::vector<int> snps = to_zero_based(snp_idx, m_total, "SNP");
  std::vector<int> inds = to_zero_based(ind_idx, n_total, "individual");
  BedReader reader(path, n_total, m_total);
  const int n = static_cast<int>(inds.size());
  if (block < 1) block = 1;
  Rcpp::NumericMatrix K(n, n);
  GrmAccumulator acc(&K(0, 0), n, standardize, maf, miss, block, use_blas, true);
  std::vector<int> used(snps.size());
  const long bps = reader.bytes_per_snp();
  std::vector<unsigned char> raw(static_cast<size_t>(bps) * block);
  std::vector<int> part;
  for (size_t j0 = 0; j0 < snps.size(); j0 += block) {
    Rcpp::checkUserInterrupt();
    const size_t j1 = std::min(snps.size(), j0 + block);
    part.assign(snps.begin() + j0, snps.begin() + j1);
    reader.read_raw(part, raw.data());
    std::function<void(int, double*)> fill = [&](int j, double* x) {
      decode_snp(raw.data() + static_cast<size_t>(j) * bps, inds, x);
    };
    acc.add_block(static_cast<int>(j1 - j0), fill, &used[j0], threads);
  }
  acc.finish();
  Rcpp::LogicalVector u(used.begin(), used.end());
  return Rcpp::List::create(Rcpp::Named("K") = K, Rcpp::Named("used") = u);
}

// [[Rcpp::export(.grm_matrix, rng = false)]]
Rcpp::List grm_matrix_cpp(Rcpp::NumericMatrix G, bool standardize, double maf,
                          double miss, int block, bool use_blas, int threads = 1) {
  const int n = G.nrow(), m = G.ncol();
  if (block < 1) block = 1;
  bool integer_genotypes = true;
  for (R_xlen_t i = 0; i < G.size() && integer_genotypes; ++i) {
    double v = G[i];
    integer_genotypes = ISNAN(v) || v == 0.0 || v == 1.0 || v == 2.0;
  }
  Rcpp::NumericMatrix K(n, n);
  GrmAccumulator acc(&K(0, 0), n, standardize, maf, miss, block, use_blas,
                     integer_genotypes);
  std::vector<int> used(m);
  const double* Gp = m > 0 ? &G(0, 0) : NULL;
  for (int j0 = 0; j0 < m; j0 += block) {
    Rcpp::checkUserInterrupt();
    const int j1 = std::min(m, j0 + block);
    std::function<void(int, double*)> fill = [&](int j, double* x) {
      const double* col = Gp + static_cast<long>(j0 + j) * n;
      for (int i = 0; i < n; ++i)
        x[i] = ISNAN(col[i]) ? std::numeric_limits<double>::quiet_NaN() : col[i];
    };
    acc.add_block(j1 - j0, fill, &used[j0], threads);
  }
  acc.finish();
  Rcpp::LogicalVector u(used.begin(), used.end());
  return Rcpp::List::create(Rcpp::Named("K") = K, Rcpp::Named("used") = u);
}

// Sets the number of OpenBLAS threads (if R's BLAS is OpenBLAS) and returns
// the previous number, or -1 if that BLAS does not offer the control. Used to
// keep scan workers, which already run in parallel, single-threaded.
// [[Rcpp::export(.blas_threads, rng = false)]]
int blas_threads_cpp(int n) { return set_blas_threads(n); }
