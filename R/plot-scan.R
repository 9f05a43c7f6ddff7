#' Manhattan and QQ plots of a scan
#'
#' @param x a scan from [lmm_scan()].
#' @param type `"manhattan"` (-log10 p along the genome, chromosomes in
#'   alternating colours) or `"qq"` (observed against expected -log10 p, with
#'   the genomic inflation factor in the title; for a subset of a scan, such
#'   as `scan[scan$chr == 1, ]`, the genome-wide factor of the full scan).
#' @param test which p-values: `"wald"`, `"lrt"` or `"score"`; the first
#'   available by default.
#' @param threshold genome-wide significance line for the Manhattan plot
#'   (`NULL` for none). The y axis always reaches it, so that a scan with no
#'   significant SNP shows how far it is from significance.
#' @param label number of top SNPs (smallest p) to label with their names on
#'   the Manhattan plot; 0 for none.
#' @param col two colours alternating between chromosomes.
#' @param ... further graphical parameters passed to [graphics::plot()].
#' @return `x`, invisibly.
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' K <- grm(g)
#' res <- lmm_scan(list(y = g$fam$pheno, X = cbind(1, g$fam$sex), K = K), g,
#'                 snps = 1:300)
#' plot(res)
#' plot(res, threshold = 1e-5, label = 3)
#' plot(res, type = "qq")
#' @export
plot.lemma_scan <- function(x, type = c("manhattan", "qq"), test = NULL,
                            threshold = 5e-8, label = 0, col = c("grey25", "steelblue"),
                            ...) {
  type <- match.arg(type)
  if (!is.null(threshold)) check_number(threshold, "threshold", "plot", lower = 1e-300, upper = 1)
  check_number(label, "label", "plot", lower = 0, integer = TRUE)
  p <- scan_pvalues(x, test)
  ok <- !is.na(p)
  lab <- if (is.null(test)) sub("^p_", "", intersect(c("p_wald", "p_lrt", "p_score"),
                                                  names(x))[1]) else test
  if (type == "qq") {
    po <- sort(p[ok])
    e <- -log10(stats::ppoints(length(po)))
    o <- -log10(po)
    lam <- scan_lambda_gc(x, test)
    graphics::plot(e, o, pch = 20, xlim = c(0, max(e)), ylim = c(0, max(o, e)), xlab = expression(Expected ~ -log[10](p)),
                   ylab = expression(Observed ~ -log[10](p)),
                   main = sprintf("QQ plot (%s): lambda_GC = %.3f%s", lab, lam,
                                  if (is.null(attr(x, "lambda_gc"))) "" else " (full scan)"), ...)
    graphics::abline(0, 1, col = "red")
    return(invisible(x))
  }
  chr <- x$chr
  pos <- x$pos
  if (all(is.na(chr))) chr <- rep("1", nrow(x))
  if (all(is.na(pos))) pos <- seq_len(nrow(x))
  chr_num <- suppressWarnings(as.numeric(chr))
  lev <- if (!anyNA(chr_num)) as.character(sort(unique(chr_num)))
         else unique(as.character(chr))
  ci <- match(as.character(if (!anyNA(chr_num)) chr_num else chr), lev)
  span <- tapply(pos, ci, max, na.rm = TRUE)
  offset <- c(0, cumsum(as.numeric(span)))[seq_along(span)]
  gpos <- pos + offset[ci]
  ymax <- max(c(-log10(p[ok]), if (!is.null(threshold)) -log10(threshold)), 1)
  if (label > 0) ymax <- ymax * 1.08  # room for the labels above the top hits
  graphics::plot(gpos[ok], -log10(p[ok]), pch = 20, cex = 0.6, ylim = c(0, ymax),
                 col = col[(ci[ok] - 1L) %% 2L + 1L], xaxt = "n",
                 xlab = "Chromosome", ylab = expression(-log[10](p)),
                 main = sprintf("Manhattan plot (%s)", lab), ...)
  mids <- offset + as.numeric(span) / 2
  graphics::axis(1, at = mids, labels = lev)
  if (!is.null(threshold)) graphics::abline(h = -log10(threshold), col = "red", lty = 2)
  if (label > 0) {
    top <- utils::head(order(p, na.last = NA), label)
    graphics::text(gpos[top], -log10(p[top]), x$snp[top], pos = 3, cex = 0.7, xpd = NA)
  }
  invisible(x)
}
