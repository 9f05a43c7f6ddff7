// The dense kernels (dense_kernels_body.h) compiled for AVX2 + FMA, for CPUs that have
// them; dense_simd.cpp chooses the set at run time.
//
// R's portable build flags allow only SSE2, which halves the speed of the dense
// Cholesky that dominates crossed models. This file is compiled for AVX2 through a
// target pragma, with Eigen's templates renamed into a namespace of their own so the
// AVX2 instantiations can never be merged by the linker with the baseline ones used
// everywhere else. Only raw pointers cross the boundary. The standard headers come
// before the pragma, so that what the linker may share with other files (the
// standard library's inline functions) is never compiled for AVX2.
#include "dense_kernels.h"
#include "dense_kernels_std.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LEMMA_BUILD_AVX2 1
#ifndef __AVX2__
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define LEMMA_POP_TARGET 1
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#endif
#endif

#ifdef LEMMA_BUILD_AVX2
#define Eigen lemma_eigen_avx2
#include <Eigen/Core>
#include <Eigen/Cholesky>
#define LEMMA_KERNEL_NS avx2
#define LEMMA_KERNEL_NAME "avx2"
#include "dense_kernels_body.h"
#endif
#ifdef LEMMA_POP_TARGET
#pragma GCC pop_options  // the table getter below runs on any CPU
#endif

namespace lemma {
const DenseKernels* dense_kernels_avx2() {
#ifdef LEMMA_BUILD_AVX2
  return &avx2::table;
#else
  return nullptr;
#endif
}
}  // namespace lemma
