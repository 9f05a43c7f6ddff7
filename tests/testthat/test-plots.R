## Diagnostic and scan plots: each is drawn to a PNG (checked to exist and be
## non-empty) and the numbers it draws are checked against lme4 / stats.
## Set LEMMA_PLOT_DIR to keep the PNGs for inspection.

plot_png <- function(name, code) {
  dir <- Sys.getenv("LEMMA_PLOT_DIR", tempdir())
  file <- file.path(dir, paste0(name, ".png"))
  unlink(file)
  grDevices::png(file, width = 800, height = 600)
  dev <- grDevices::dev.cur()
  val <- tryCatch(force(code), finally = grDevices::dev.off(dev))
  expect_true(file.exists(file))
  expect_gt(file.size(file), 1000)
  invisible(val)
}

sleep_fits <- function() {
  d <- lme4::sleepstudy
  list(lemma = lmm(Reaction ~ Days + (Days | Subject), d),
       lme4 = lme4::lmer(Reaction ~ Days + (Days | Subject), d))
}

test_that("plot(fit) and plot(fit, group =) draw lme4's residuals and fitted values", {
  skip_if_not_installed("lme4")
  f <- sleep_fits()
  out <- plot_png("plot-fit", plot(f$lemma, id = 0.05))
  # same optimum to ~1e-6 relative in theta; residuals are of order 10-100
  expect_equal(out$resid, unname(residuals(f$lme4, type = "pearson")), tolerance = 1e-4)
  expect_equal(out$fitted, unname(fitted(f$lme4)), tolerance = 1e-5)
  outg <- plot_png("plot-fit-group", plot(f$lemma, group = "Subject", main = "By subject"))
  expect_identical(outg$group, lme4::sleepstudy$Subject)
  expect_equal(outg$resid, out$resid)
  # a model-frame variable and a vector work too
  d <- lme4::sleepstudy
  d$half <- ifelse(d$Days < 5, "early", "late")
  fit2 <- lmm(Reaction ~ Days + half + (1 | Subject), d)
  outh <- plot_png("plot-fit-half", plot(fit2, group = "half"))
  expect_identical(levels(outh$group), c("early", "late"))
  pdf(NULL); on.exit(dev.off())
  expect_identical(plot(fit2, group = d$Days > 4)$group, factor(d$Days > 4))
  expect_error(plot(f$lemma, group = "nope"), "'group' = \"nope\" is neither a grouping factor \\(Subject\\)")
  expect_error(plot(f$lemma, group = 1:3), "'group' must .* one value per observation \\(180\\)")
  expect_error(plot(f$lemma, group = seq_len(180)), "'group' has 180 levels")
  expect_error(plot(f$lemma, group = rep(c(1, NA), 90)), "'group' has missing values")
})

test_that("qqnorm(fit) draws the standardized residuals against stats::qqnorm's quantiles", {
  skip_if_not_installed("lme4")
  f <- sleep_fits()
  out <- plot_png("qqnorm-resid", qqnorm(f$lemma, id = 0.01))
  ref <- stats::qqnorm(residuals(f$lme4, type = "pearson") / sigma(f$lme4), plot.it = FALSE)
  expect_equal(unname(out$theoretical), ref$x, tolerance = 1e-12)   # same quantile rule
  expect_equal(unname(out$sample), unname(ref$y), tolerance = 1e-4) # optimizers' agreement
  outr <- plot_png("qqnorm-ranef", qqnorm(f$lemma, which = "ranef", main = "sleepstudy"))
  re <- lme4::ranef(f$lme4)$Subject
  for (term in names(re)) {
    o <- outr[outr$term == term, ]
    r <- stats::qqnorm(re[[term]], plot.it = FALSE)
    expect_equal(o$theoretical[match(rownames(re), o$grp)], r$x, tolerance = 1e-12)
    # conditional modes: lme4's optimum to ~1e-5 relative, values of order 1-40
    expect_equal(o$sample[match(rownames(re), o$grp)], re[[term]], tolerance = 1e-4)
  }
  pdf(NULL); on.exit(dev.off())
  expect_error(qqnorm(f$lemma, which = "fixef"), "'which' = \"fixef\" is not one of")
  expect_warning(qqnorm(f$lemma, which = "ranef", id = 0.05), "'id' labels residuals only")
})

test_that("plot(ranef()) draws lme4's conditional modes with intervals of condsd", {
  skip_if_not_installed("lme4")
  f <- sleep_fits()
  out <- plot_png("caterpillar", plot(ranef(f$lemma, condVar = TRUE)))
  ref <- as.data.frame(lme4::ranef(f$lme4, condVar = TRUE))
  key <- paste(out$term, out$grp)
  i <- match(paste(ref$term, ref$grp), key)
  expect_false(anyNA(i))
  expect_equal(out$condval[i], ref$condval, tolerance = 1e-4)
  # 95% interval = condval -/+ 1.959964 condsd (hand formula, lme4's condsd)
  expect_equal(out$upper[i], ref$condval + qnorm(0.975) * ref$condsd, tolerance = 1e-4)
  expect_equal(out$lower[i], ref$condval - qnorm(0.975) * ref$condsd, tolerance = 1e-4)
  out90 <- plot_png("caterpillar-90", plot(ranef(f$lemma), level = 0.9, main = "90%"))
  expect_equal(out90$upper - out90$condval, qnorm(0.95) * out90$condsd, tolerance = 1e-12)
  # two grouping factors, and one chosen with `which`
  skip_if_not_installed("lme4")
  fit2 <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin)
  out2 <- plot_png("caterpillar-2", plot(ranef(fit2)))
  expect_setequal(unique(out2$grpvar), c("plate", "sample"))
  pdf(NULL); on.exit(dev.off())
  expect_identical(unique(plot(ranef(fit2), which = "sample")$grpvar), "sample")
  expect_error(plot(ranef(fit2), which = "nope"), "'which' must name grouping factors among plate, sample")
  expect_error(plot(ranef(fit2), level = 95), "'level' must be a single finite number in \\[")
  expect_message(o <- plot(ranef(fit2, condVar = FALSE)), "intervals not drawn")
  expect_true(all(is.na(o$upper)))
})

scan_for_plots <- function() {
  g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
  K <- suppressMessages(grm(g))
  null <- list(y = g$fam$pheno, X = cbind(1, g$fam$sex), K = K, ids = g$fam$iid)
  suppressMessages(lmm_scan(null, g, snps = 1:400))
}

test_that("Manhattan plot keeps the threshold in view and labels top hits", {
  res <- scan_for_plots()
  top <- -log10(min(res$p_wald, na.rm = TRUE))
  expect_lt(top, -log10(5e-8))                  # no SNP reaches the threshold here
  plot_png("manhattan", {
    plot(res, label = 3)
    usr <- graphics::par("usr")
  })
  expect_gte(usr[4], -log10(5e-8))
  plot_png("manhattan-1e-3", {
    plot(res, threshold = 1e-3, label = 0)
    usr <- graphics::par("usr")
  })
  expect_gte(usr[4], top)                        # the data stay in view too
  expect_lt(usr[4], -log10(5e-8))                # and the default threshold is not forced in
  pdf(NULL); on.exit(dev.off())
  expect_error(plot(res, label = -1), "'label' must be a single finite whole number >= 0")
  expect_error(plot(res, threshold = 0), "'threshold' must be a single finite number")
})

test_that("a subset of a scan keeps the genome-wide inflation factor", {
  res <- scan_for_plots()
  p <- res$p_wald[!is.na(res$p_wald)]
  # hand formula: median chi-square(1) statistic over its expected median
  gc_full <- median(qchisq(p, 1, lower.tail = FALSE)) / qchisq(0.5, 1)
  sub <- res[order(res$p_wald)[1:20], ]
  expect_s3_class(sub, "lemma_scan")
  expect_equal(attr(sub, "lambda_gc")[["wald"]], gc_full, tolerance = 1e-12)
  printed <- capture.output(print(sub))
  expect_match(printed[2], sprintf("lambda_GC = %s \\(genome-wide", format(gc_full, digits = 4)))
  # subsetting the subset keeps the same value
  expect_equal(attr(sub[1:5, ], "lambda_gc")[["wald"]], gc_full, tolerance = 1e-12)
  # the full scan prints the same value, computed
  expect_match(capture.output(print(res))[2], sprintf("lambda_GC = %s$", format(gc_full, digits = 4)))
  plot_png("qq-subset", plot(sub, type = "qq"))
  plot_png("qq-full", plot(res, type = "qq"))
})
