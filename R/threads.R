# The default number of OpenMP threads, shared by lmm_control(), lmm_scan() and
# grm(): the option `lemma.threads` when set, else the environment variable
# OMP_NUM_THREADS when set (the standard way to cap OpenMP programs, e.g. on a
# cluster node), else `fallback`. Results do not depend on the number chosen.
default_threads <- function(fallback, fn) {
  opt <- getOption("lemma.threads")
  if (!is.null(opt)) {
    check_number(opt, "options(lemma.threads)", fn, lower = 1, integer = TRUE)
    return(as.integer(opt))
  }
  env <- Sys.getenv("OMP_NUM_THREADS")
  if (nzchar(env)) {
    # OpenMP allows a list ("4,2") of per-nesting-level counts: the first applies.
    first <- trimws(strsplit(env, ",", fixed = TRUE)[[1L]][1L])
    th <- suppressWarnings(as.numeric(first))
    check_number(th, sprintf("OMP_NUM_THREADS (\"%s\")", env), fn, lower = 1, integer = TRUE)
    return(as.integer(th))
  }
  as.integer(fallback)
}

# The environment variable LEMMA_SIMD caps the instruction sets of the kernels
# chosen at run time ("avx512", "avx2" or "none"; for checks and comparisons).
# The C++ side reads it once per session, at its first use; any other value is an
# error, raised here at the boundary of the exported function that uses it.
simd_env_check <- function(fn) {
  s <- .simd_info()
  if (!isTRUE(s$valid))
    stop(sprintf("%s(): the environment variable LEMMA_SIMD is \"%s\"; use \"avx512\", \"avx2\" or \"none\", or leave it unset",
                 fn, s$env), call. = FALSE)
  invisible(s)
}
