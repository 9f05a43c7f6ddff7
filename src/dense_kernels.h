// The dense kernels' function table: one table per instruction set, each compiled
// in a translation unit of its own from the same source (dense_kernels_body.h).
#ifndef LEMMA_DENSE_KERNELS_H
#define LEMMA_DENSE_KERNELS_H

namespace lemma {

struct DenseKernels {
  const char* name;
  bool (*cholesky)(double* a, int n, int threads);
  void (*spd_inverse_lower)(double* a, int n, int threads);
  void (*rdiv_lower_t)(double* b, int nrow, int ncol, const double* l);
  void (*rank_update_lower)(double* c, int n, const double* a, int k);
};

// nullptr when the compiler could not build that set (not GCC on x86-64, or Eigen
// older than 3.4 for AVX-512). Whether the CPU can run it is the caller's check.
const DenseKernels* dense_kernels_avx2();
const DenseKernels* dense_kernels_avx512();

}  // namespace lemma

#endif
