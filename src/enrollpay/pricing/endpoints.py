from fastapi import APIRouter

# Filled in by the pricing work: quote and admin coupon CRUD.
router = APIRouter(tags=["pricing"])
admin_router = APIRouter()
