# Makes inst/extdata/example.{bed,bim,fam} and example_covariates.txt:
# 400 individuals in 80 nuclear families of 5 (two unrelated parents, three
# full sibs), families drawn from two subpopulations (Fst 0.1), 2,000 SNPs on
# 5 chromosomes, 1% missing genotypes, a phenotype with a polygenic part, five
# causal SNPs, a subpopulation mean shift (confounding by structure), two
# covariates (sex, age) and 8 missing phenotypes (-9 in the .fam).
# A few SNPs are made to fail GEMMA's default filters (monomorphic, MAF < 0.01,
# missingness > 5%).
# Run from the package root:  Rscript data-raw/make-plink-example.R
source("R/plink.R")  # write_plink(), simulate_structured_genotypes()
set.seed(20261125)
sim <- simulate_structured_genotypes(n_fam = 80, fam_size = 5, m = 2000)
G <- sim$G; n <- nrow(G); m <- ncol(G)
# SNPs that GEMMA's default filters drop
G[, 101] <- 0                                   # monomorphic
G[, 202] <- 0; G[sample(n, 2), 202] <- 1        # MAF 0.0025
G[sample(n, 40), 303] <- NA                     # ~10% missing
causal <- c(250, 700, 1100, 1500, 1900)
Gi <- apply(G, 2, function(x) { x[is.na(x)] <- mean(x, na.rm = TRUE); x })
Z <- scale(Gi[, -c(101, 202)])
poly <- drop(Z %*% rnorm(ncol(Z))) / sqrt(ncol(Z))        # var ~ 1
sex <- sim$fam$sex
age <- round(runif(n, 20, 70))
y <- 0.5 * (sex == 2) + 0.02 * age + 1.0 * (sim$pop == 2) +
  sqrt(0.8) * poly + drop(Gi[, causal] %*% c(0.5, -0.4, 0.45, 0.35, -0.5)) +
  rnorm(n, sd = 1)
y[sample(n, 8)] <- NA
fam <- sim$fam
fam$pheno <- round(y, 6)
write_plink("inst/extdata/example", G, sim$bim, fam)
cov <- data.frame(intercept = 1, sex = as.integer(sex == 2), age = age)
utils::write.table(cov, "inst/extdata/example_covariates.txt", quote = FALSE,
                   row.names = FALSE, col.names = FALSE, sep = " ")
writeLines(sim$bim$snp[causal], "inst/extdata/example_causal.txt")
