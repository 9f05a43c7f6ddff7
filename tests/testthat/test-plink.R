example_bed <- function() system.file("extdata", "example.bed", package = "lemma")

# independent decoder of a .bed file in plain R (SNP-major)
decode_bed_r <- function(path, n, m) {
  raw <- readBin(path, "raw", file.size(path))
  nb <- (n + 3) %/% 4
  bits <- as.integer(raw[-(1:3)])
  codes <- rbind(bits %% 4, (bits %/% 4) %% 4, (bits %/% 16) %% 4, bits %/% 64)
  codes <- matrix(as.vector(codes), nb * 4, m)[seq_len(n), , drop = FALSE]
  dose <- c(2, NA, 1, 0)[codes + 1]
  matrix(dose, n, m)
}

test_that("read_plink reads the example fileset", {
  g <- read_plink(example_bed())
  expect_s3_class(g, "lemma_plink")
  expect_equal(dim(g), c(400L, 2000L))
  expect_named(g$bim, c("chr", "snp", "cm", "pos", "allele1", "allele0"))
  expect_named(g$fam, c("fid", "iid", "pid", "mid", "sex", "pheno"))
  expect_equal(sum(is.na(g$fam$pheno)), 8L)  # -9 read as missing
  expect_identical(read_plink(sub("\\.bed$", "", example_bed()))$bed, g$bed)
})

test_that("dosages are counts of allele 1 and agree with a plain-R decoder", {
  g <- read_plink(example_bed())
  G <- as.matrix(g)
  ref <- decode_bed_r(g$bed, g$n, g$m)
  expect_identical(unname(G), ref)
  expect_equal(dimnames(G), list(g$fam$iid, g$bim$snp))
  # subsets by index and by name
  expect_identical(as.matrix(g, snps = c(5, 2), individuals = 3:1),
                   G[3:1, c(5, 2)])
  expect_identical(as.matrix(g, snps = c("rs10", "rs1")), G[, c(10, 1)])
  expect_error(as.matrix(g, snps = 2001), "1..2000")
  expect_error(as.matrix(g, snps = "nope"), "not found")
  # allele-1 frequency against GEMMA's af (3 decimals, 392 phenotyped)
  ref_assoc <- utils::read.table(test_path("ref", "gemma", "example_lmm4.assoc.txt"),
                                 header = TRUE)
  ok <- !is.na(g$fam$pheno)
  af <- colMeans(G[ok, ref_assoc$rs], na.rm = TRUE) / 2
  expect_lt(max(abs(af - ref_assoc$af)), 5e-4 + 1e-12)
  expect_identical(as.integer(colSums(is.na(G[ok, ref_assoc$rs]))), ref_assoc$n_miss)
})

test_that("write/read round trip, n not a multiple of 4", {
  set.seed(1)
  n <- 13; m <- 7
  G <- matrix(sample(c(0, 1, 2, NA), n * m, TRUE), n, m)
  bim <- data.frame(chr = 1, snp = paste0("s", 1:m), cm = 0, pos = 1:m,
                    allele1 = "A", allele0 = "G")
  fam <- data.frame(fid = paste0("f", 1:n), iid = paste0("i", 1:n), pid = 0,
                    mid = 0, sex = 1, pheno = c(NA, rnorm(n - 1)))
  prefix <- file.path(tempdir(), "roundtrip")
  lemma:::write_plink(prefix, G, bim, fam)
  expect_equal(file.size(paste0(prefix, ".bed")), 3 + m * 4)
  g <- read_plink(prefix)
  expect_identical(unname(as.matrix(g)), G)
  expect_true(is.na(g$fam$pheno[1]))
  expect_equal(g$fam$pheno[-1], round(fam$pheno[-1], 6), tolerance = 1e-6)
})

test_that("corrupt or inconsistent files give errors naming the file", {
  g <- read_plink(example_bed())
  d <- file.path(tempdir(), "bad"); dir.create(d, showWarnings = FALSE)
  pre <- file.path(d, "ex")
  file.copy(paste0(sub("\\.bed$", "", example_bed()), c(".bim", ".fam")),
            paste0(pre, c(".bim", ".fam")), overwrite = TRUE)
  bytes <- readBin(example_bed(), "raw", file.size(example_bed()))
  # truncated
  writeBin(bytes[1:1000], paste0(pre, ".bed"))
  expect_error(read_plink(pre), "ex\\.bed.*1000 bytes; expected 200003")
  # wrong magic
  b2 <- bytes; b2[1] <- as.raw(0)
  writeBin(b2, paste0(pre, ".bed"))
  expect_error(read_plink(pre), "ex\\.bed.*not a PLINK \\.bed")
  # individual-major
  b3 <- bytes; b3[3] <- as.raw(0)
  writeBin(b3, paste0(pre, ".bed"))
  expect_error(read_plink(pre), "individual-major")
  # missing .fam
  writeBin(bytes, paste0(pre, ".bed"))
  unlink(paste0(pre, ".fam"))
  expect_error(read_plink(pre), "not found: .*ex\\.fam")
})

test_that("a phenotype that is not a number is named in a warning, not read silently as missing", {
  src <- system.file("extdata", package = "lemma")
  pre <- sub("\\.bed$", "", list.files(src, pattern = "\\.bed$", full.names = TRUE)[1])
  dir <- tempfile("pheno-text"); dir.create(dir)
  file.copy(paste0(pre, c(".bed", ".bim")), file.path(dir, paste0("x", c(".bed", ".bim"))))
  fam <- readLines(paste0(pre, ".fam"))
  f <- strsplit(fam[2], "[ \t]+")[[1]]; f[6] <- "abc"; fam[2] <- paste(f, collapse = " ")
  writeLines(fam, file.path(dir, "x.fam"))
  expect_warning(p <- read_plink(file.path(dir, "x")), "x\\.fam: phenotype \\(column 6\\) of 1 individual.*line 2, \"abc\"")
  expect_true(is.na(p$fam$pheno[2]))
})
