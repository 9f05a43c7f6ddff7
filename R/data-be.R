#' EMA reference data sets for replicate-design bioequivalence
#'
#' Two of the European Medicines Agency's reference data sets for the evaluation
#' of replicate-design bioequivalence studies, as distributed by the replicateBE
#' package (its `rds01` and `rds02`):
#' \describe{
#'   \item{rds01}{Annex II: a 4-period, 2-sequence full replicate (TRTR | RTRT), 77
#'     subjects, 298 observations (10 periods missing).}
#'   \item{rds02}{Annex III: a 3-period, 3-sequence partial replicate (TRR | RTR |
#'     RRT), 24 subjects, 72 observations.}
#' }
#' Columns: `subject` (factor), `period` (factor), `sequence` (factor, in the
#' published order), `treatment` (factor, reference `"R"` first, test `"T"`), `PK`
#' (a pharmacokinetic response, Cmax; analysed on the log scale).
#'
#' Published results of the EMA's Method B (log(PK) on sequence, period and
#' treatment, random subject), as reported with the data: rds01, point estimate of
#' T/R 115.73\%, 90\% CI 107.17\%--124.97\%; rds02, 102.26\%, 97.32\%--107.46\%.
#'
#' @source European Medicines Agency (2016), Questions & Answers: positions on
#'   specific questions addressed to the Pharmacokinetics Working Party, Annex II
#'   and Annex III (public documents); via the replicateBE package (Schütz,
#'   Tomashevskiy, Labes; CRAN, GPL (>= 3)), whose `rds01` and `rds02` they are
#'   (`data-raw/bioequivalence.R` makes them). The values are the EMA's published
#'   data; only the column `logPK` was dropped and the factor levels reordered.
#' @name rds01
#' @aliases rds02
#' @docType data
#' @keywords datasets
#' @seealso [gmr()]
#' @examples
#' str(rds01)
#' table(rds02$sequence, rds02$period)
"rds01"

#' @rdname rds01
"rds02"
