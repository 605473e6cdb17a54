from fastapi import APIRouter

# Filled in by the catalog work: public list/detail and admin CRUD.
router = APIRouter(tags=["courses"])
admin_router = APIRouter()
