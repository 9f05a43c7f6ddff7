// Genetics part of lemma: PLINK .bed reading, relatedness matrices and the
// per-SNP spectral (GEMMA-style) association tests.
#ifndef LEMMA_GENETICS_H
#define LEMMA_GENETICS_H

#ifndef USE_FC_LEN_T
#define USE_FC_LEN_T
#endif
#include <RcppEigen.h>
#include <R_ext/BLAS.h>
#ifndef FCONE
#define FCONE
#endif
#include <fstream>
#include <string>
#include <vector>

namespace lemma {

// Reads SNP-major PLINK .bed files one SNP at a time. Dosages are counts of
// allele 1 (the fifth .bim column): 0/1/2, NaN for missing.
class BedReader {
 public:
  BedReader(const std::string& path, int n_total, int m_total);
  // j: 0-based SNP index; ind: 0-based individual indices; out: ind.size()
  void read_snp(int j, const std::vector<int>& ind, double* out);
  // the packed bytes of the SNPs `snps` (0-based), one record of
  // bytes_per_snp() after another; runs of consecutive SNPs are read at once
  void read_raw(const std::vector<int>& snps, unsigned char* out);
  long bytes_per_snp() const { return bytes_per_snp_; }
  int n_total() const { return n_; }
  int m_total() const { return m_; }

 private:
  std::string path_;
  std::ifstream in_;
  int n_, m_;
  long bytes_per_snp_;
  std::vector<unsigned char> buf_;
  std::vector<double> dos_;  // decoded dosages of all n_total individuals
};

// Dosages of the individuals `ind` (0-based) from one packed SNP record.
void decode_snp(const unsigned char* record, const std::vector<int>& ind,
                double* out);

// 1-based R indices to 0-based, checked against 1..max (the error names
// `what`).
std::vector<int> to_zero_based(const Rcpp::IntegerVector& idx, int max,
                               const char* what);

// Checks a .bed file's magic bytes and size; throws std::runtime_error with a
// message naming the file on failure.
void check_bed(const std::string& path, int n_total, int m_total);

// Per-SNP summary used by GEMMA's filters, over the individuals given.
struct SnpStats {
  int n_miss;
  double af;     // frequency of allele 1 among non-missing genotypes
  double mean;   // mean dosage among non-missing genotypes
  int n_class;   // number of distinct genotype classes observed (0/1/2)
};

SnpStats snp_stats(const double* x, int n);

// C = A' B (A: n x p, B: n x q): by Eigen compiled for AVX-512 when the CPU
// has it (gemm_avx512.h), else by the BLAS R is linked to if use_blas (faster
// when that is an optimized BLAS such as OpenBLAS), else by Eigen.
void crossprod_into(const Eigen::Ref<const Eigen::MatrixXd>& A,
                    const Eigen::Ref<const Eigen::MatrixXd>& B,
                    Eigen::MatrixXd& C, bool use_blas);

// C = A B in single precision: by Eigen compiled for AVX-512 when the CPU has
// it (gemm_avx512.h), else by the BLAS R is linked to when use_blas and it has
// sgemm (an optimized BLAS), else by Eigen.
void float_product_into(const Eigen::MatrixXf& A, const Eigen::MatrixXf& B,
                        Eigen::MatrixXf& C, bool use_blas);

}  // namespace lemma

#endif
