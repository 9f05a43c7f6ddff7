example_bed <- function() system.file("extdata", "example.bed", package = "lemma")
read_gemma_matrix <- function(file) unname(as.matrix(utils::read.table(file)))

test_that("centered and standardized GRMs agree with GEMMA -gk 1 / -gk 2", {
  g <- read_plink(example_bed())
  expect_message(K1 <- grm(g), "6 of 2000 SNPs dropped")
  K2 <- suppressMessages(grm(g, "standardized"))
  ref1 <- read_gemma_matrix(gzfile(test_path("ref", "gemma", "example_gk1.cXX.txt.gz")))
  ref2 <- read_gemma_matrix(gzfile(test_path("ref", "gemma", "example_gk2.sXX.txt.gz")))
  # GEMMA prints 10 significant digits; measured differences ~5e-11 / 5e-10
  expect_lt(max(abs(unname(K1) - ref1)), 1e-8)
  expect_lt(max(abs(unname(K2) - ref2)), 1e-8)
  expect_equal(attr(K1, "n_snps"), 1994L)
  expect_identical(rownames(K1), g$fam$iid)
  expect_true(isSymmetric(unname(K1)))
})

test_that("GRM equals the textbook formula and matrix input equals PLINK input", {
  g <- read_plink(example_bed())
  G <- as.matrix(g, snps = 1:300)
  K_plink <- suppressMessages(grm(g, snps = 1:300, chunk_size = 64))
  K_mat <- suppressMessages(grm(G, chunk_size = 1000))
  expect_equal(K_mat, K_plink, tolerance = 1e-12)
  # by hand: filters, mean imputation, centring (and scaling)
  af <- colMeans(G, na.rm = TRUE) / 2
  keep <- colMeans(is.na(G)) <= 0.05 & af >= 0.01 & af <= 0.99 &
    apply(G, 2, function(x) length(unique(x[!is.na(x)])) > 1)
  W <- G[, keep]
  W <- apply(W, 2, function(x) { x[is.na(x)] <- mean(x, na.rm = TRUE); x - mean(x) })
  expect_equal(as.vector(K_mat), as.vector(tcrossprod(W) / ncol(W)), tolerance = 1e-12)
  S <- sweep(W, 2, sqrt(colMeans(W^2)), "/")
  K_std <- suppressMessages(grm(G, "standardized"))
  expect_equal(as.vector(K_std), as.vector(tcrossprod(S) / ncol(S)), tolerance = 1e-12)
})

test_that("the split integer GRM is exact, with or without missing values", {
  # integer dosages take the exact split product (bit counts), others the
  # double one; the two must agree with the textbook formula to double
  # rounding. m spans two of the bit product's 2,048-SNP batches.
  set.seed(3)
  n <- 60; m <- 2600
  G <- matrix(rbinom(n * m, 2, runif(m, 0.05, 0.5)[col(matrix(0, n, m))]), n, m)
  G[sample(length(G), 1500)] <- NA         # scattered missing genotypes
  G[1:5, 1:50] <- NA                        # and individuals missing together
  by_hand <- function(G) {
    W <- apply(G, 2, function(x) { x[is.na(x)] <- mean(x, na.rm = TRUE); x - mean(x) })
    tcrossprod(W) / ncol(W)
  }
  keep <- colMeans(is.na(G)) <= 0.05 & colMeans(G, na.rm = TRUE) / 2 >= 0.01 &
    colMeans(G, na.rm = TRUE) / 2 <= 0.99
  K_split <- suppressMessages(grm(G, chunk_size = 128))
  # the centring's corrections cancel terms of up to 4 per SNP: ~1e-15
  # absolute rounding on entries of ~0.01 (mean |K|), hence 1e-12 relative
  expect_equal(as.vector(K_split), as.vector(by_hand(G[, keep])), tolerance = 1e-12)
  # one thread or several: the same numbers
  old <- options(lemma.threads = 1)
  K_one <- suppressMessages(grm(G, chunk_size = 128))
  options(old)
  expect_identical(K_one, K_split)
  # non-integer dosages (imputed): the double-precision path
  D <- G + 0.25 * (!is.na(G)) * matrix(runif(n * m) < 0.1, n, m)
  keep_d <- colMeans(is.na(D)) <= 0.05 & colMeans(D, na.rm = TRUE) / 2 >= 0.01 &
    colMeans(D, na.rm = TRUE) / 2 <= 0.99
  expect_equal(as.vector(suppressMessages(grm(D))), as.vector(by_hand(D[, keep_d])),
               tolerance = 1e-13)
})

test_that("GRM agrees with a live GEMMA run", {
  gemma <- Sys.which("gemma")
  skip_if(gemma == "", "gemma not installed")
  d <- tempfile("gemma-gk"); dir.create(d)
  pre <- sub("\\.bed$", "", example_bed())
  file.copy(paste0(pre, c(".bed", ".bim", ".fam")), d)
  owd <- setwd(d); on.exit(setwd(owd))
  status <- system2(gemma, c("-bfile", "example", "-gk", "1", "-o", "live"),
                    stdout = FALSE, stderr = FALSE)
  skip_if(status != 0 || !file.exists("output/live.cXX.txt"), "gemma failed to run")
  ref <- read_gemma_matrix("output/live.cXX.txt")
  K <- suppressMessages(grm(read_plink(file.path(d, "example"))))
  expect_lt(max(abs(unname(K) - ref)), 1e-8)
})
